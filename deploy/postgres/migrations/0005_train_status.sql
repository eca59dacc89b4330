-- Where each train stands (iotrack.rail.trains.v1, TrainStatus): phase, manifest versions,
-- permission, readiness and exits, as the tracking core publishes it. Its operator is the one
-- rail operator who may see the train; the trains view now takes it from here first.
CREATE TABLE train_status (
    train_id           text        PRIMARY KEY,
    event_id           uuid        NOT NULL,
    occurred_at        timestamptz NOT NULL,
    operator           text        NOT NULL,
    phase              text        NOT NULL,
    manifest_version   integer,
    manifest_versions  integer[]   NOT NULL DEFAULT '{}',
    permission_granted boolean,
    reasons            text[]      NOT NULL DEFAULT '{}',
    units              integer     NOT NULL,
    units_ready        integer     NOT NULL,
    iot_ids            uuid[]      NOT NULL DEFAULT '{}',
    exited             integer     NOT NULL
);

CREATE INDEX train_status_by_operator ON train_status (operator, train_id);

CREATE OR REPLACE VIEW trains AS
SELECT train_id,
       coalesce(
           (SELECT s.operator FROM train_status s WHERE s.train_id = t.train_id),
           (SELECT m.operator FROM train_manifests m WHERE m.train_id = t.train_id
             ORDER BY m.version DESC LIMIT 1),
           (SELECT l.operator FROM train_loading_lists l WHERE l.train_id = t.train_id
             ORDER BY l.occurred_at DESC, l.event_id DESC LIMIT 1)
       ) AS operator
FROM (
    SELECT train_id FROM train_manifests
    UNION SELECT train_id FROM train_loading_lists
    UNION SELECT train_id FROM train_permissions
    UNION SELECT train_id FROM train_status
) AS t;
