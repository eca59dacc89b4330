-- The read side of issue 6: bindings with their validity, passages, IOT state transitions,
-- holds, releases, exits, verdicts per IOT_ID, mission paths, and the rail records (loading
-- lists, manifest versions, permissions to leave). Written by the projection in the same
-- transaction as its position (consumer_positions); `iotrack projection rebuild` truncates them
-- and replays the topics from the beginning.
--
-- Every row is a function of one topic's records for one key, applied in that key's partition
-- order, so a replay in any interleaving of partitions yields the same content.

-- One row per IOT_ID bound (iotrack.bindings.v1: IotBound, BindingChanged, BindingEnded).
CREATE TABLE bindings (
    iot_id          uuid        PRIMARY KEY,
    request_id      text        NOT NULL,
    mission_path_id text        NOT NULL,
    mrns            text[]      NOT NULL DEFAULT '{}',
    requested_by    text        NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz,
    end_reason      text,
    ended_by        text,
    updated_at      timestamptz NOT NULL
);

-- Each ITU identifier of a binding with the time it was bound to the IOT_ID: "which IOT_ID is
-- this container on now (valid_to IS NULL), or was on at time T".
CREATE TABLE binding_itus (
    iot_id     uuid        NOT NULL,
    itu_key    text        NOT NULL,
    kind       text        NOT NULL,
    value      text        NOT NULL,
    country    text,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    PRIMARY KEY (iot_id, itu_key, valid_from)
);

CREATE INDEX binding_itus_active ON binding_itus (itu_key) WHERE valid_to IS NULL;
CREATE INDEX binding_itus_by_key ON binding_itus (itu_key, valid_from);

-- One row per physical passage (iotrack.passages.v1). IOT_IDs are resolved at query time from
-- the ITU keys and binding_itus' validity (or read directly from a barcode: iot_ids).
CREATE TABLE passages (
    event_id      uuid        PRIMARY KEY,
    occurred_at   timestamptz NOT NULL,
    read_point_id text        NOT NULL,
    node_id       text        NOT NULL,
    lane          text,
    direction     text        NOT NULL,
    ended_at      timestamptz NOT NULL,
    itu_keys      text[]      NOT NULL DEFAULT '{}',
    iot_ids       uuid[]      NOT NULL DEFAULT '{}',
    mrns          text[]      NOT NULL DEFAULT '{}',
    sensors_agree boolean     NOT NULL
);

CREATE INDEX passages_by_node ON passages (node_id, occurred_at);
CREATE INDEX passages_by_itu ON passages USING gin (itu_keys);
CREATE INDEX passages_by_iot ON passages USING gin (iot_ids);

-- One row per IotState version: the timeline of an IOT_ID (kept when the state is retired).
CREATE TABLE iot_transitions (
    iot_id          uuid        NOT NULL,
    version         bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    status          text        NOT NULL,
    mission_path_id text        NOT NULL,
    current_node_id text,
    last_seen_at    timestamptz,
    next_expected   text[]      NOT NULL DEFAULT '{}',
    deadline        timestamptz,
    definitive_at   timestamptz,
    PRIMARY KEY (iot_id, version)
);

-- The clearance verdict per IOT_ID (iotrack.clearance.verdicts.by-iot.v1).
CREATE TABLE clearance_by_iot (
    iot_id       uuid        PRIMARY KEY,
    verdict      text        NOT NULL,
    may_leave    boolean     NOT NULL,
    mrns_pending text[]      NOT NULL DEFAULT '{}',
    open_holds   jsonb       NOT NULL DEFAULT '[]',
    reasons      text[]      NOT NULL DEFAULT '{}',
    as_of        timestamptz NOT NULL
);

-- Each hold's latest state (iotrack.clearance.holds.v1). reason_code, reason and outcome are
-- for Customs eyes only: the API never shows them to another role.
CREATE TABLE holds (
    iot_id      uuid        NOT NULL,
    agency      text        NOT NULL,
    hold_id     text        NOT NULL,
    hold_type   text        NOT NULL,
    reason_code text,
    reason      text,
    placed_by   text,
    placed_at   timestamptz,
    lifted_by   text,
    lifted_at   timestamptz,
    outcome     text,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (iot_id, agency, hold_id)
);

CREATE INDEX holds_open ON holds (placed_at) WHERE lifted_at IS NULL;

-- Customs releases (or their annulment) per IOT_ID and MRN (iotrack.clearance.releases.v1).
CREATE TABLE releases (
    iot_id      uuid        NOT NULL,
    mrn         text        NOT NULL,
    event_id    uuid        NOT NULL,
    occurred_at timestamptz NOT NULL,
    released_by text        NOT NULL,
    annulled    boolean     NOT NULL,
    reason      text,
    PRIMARY KEY (iot_id, mrn)
);

-- GdF exit confirmations (iotrack.clearance.exits.v1).
CREATE TABLE exits (
    iot_id       uuid        PRIMARY KEY,
    event_id     uuid        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    mode         text        NOT NULL,
    gate_node_id text        NOT NULL,
    confirmed_by text        NOT NULL,
    train_id     text,
    plate        text
);

CREATE INDEX exits_by_train ON exits (train_id) WHERE train_id IS NOT NULL;

-- Mission paths, latest version per id (iotrack.mission-paths.v1): the expected nodes of a
-- timeline.
CREATE TABLE mission_paths (
    mission_path_id text        PRIMARY KEY,
    version         integer     NOT NULL,
    nodes           jsonb       NOT NULL,
    legs            jsonb       NOT NULL,
    defined_by      text        NOT NULL,
    defined_at      timestamptz NOT NULL
);

-- Rail phase 1: loading lists as submitted and as answered (iotrack.rail.loading-lists.v1).
CREATE TABLE train_loading_lists (
    event_id          uuid        PRIMARY KEY,
    train_id          text        NOT NULL,
    operator          text        NOT NULL,
    occurred_at       timestamptz NOT NULL,
    planned_departure timestamptz,
    answered          boolean     NOT NULL,
    items             jsonb       NOT NULL
);

CREATE INDEX train_loading_lists_by_train ON train_loading_lists (train_id, occurred_at);

-- Rail phase 2: every manifest version seen per train (iotrack.rail.manifests.v1).
CREATE TABLE train_manifests (
    train_id           text        NOT NULL,
    version            integer     NOT NULL,
    event_id           uuid        NOT NULL,
    occurred_at        timestamptz NOT NULL,
    operator           text        NOT NULL,
    supersedes_version integer,
    wagons             jsonb       NOT NULL,
    itu_keys           text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (train_id, version)
);

CREATE INDEX train_manifests_by_operator ON train_manifests (operator, train_id);
CREATE INDEX train_manifests_by_itu ON train_manifests USING gin (itu_keys);

-- Permission to leave decisions per train (iotrack.rail.permissions.v1).
CREATE TABLE train_permissions (
    event_id         uuid        PRIMARY KEY,
    train_id         text        NOT NULL,
    manifest_version integer     NOT NULL,
    occurred_at      timestamptz NOT NULL,
    granted          boolean     NOT NULL,
    reasons          text[]      NOT NULL DEFAULT '{}',
    decided_by       text        NOT NULL
);

CREATE INDEX train_permissions_by_train ON train_permissions (train_id, occurred_at);

-- A train and its operator: from its newest manifest, else its newest loading list.
CREATE VIEW trains AS
SELECT train_id,
       coalesce(
           (SELECT m.operator FROM train_manifests m WHERE m.train_id = t.train_id
             ORDER BY m.version DESC LIMIT 1),
           (SELECT l.operator FROM train_loading_lists l WHERE l.train_id = t.train_id
             ORDER BY l.occurred_at DESC, l.event_id DESC LIMIT 1)
       ) AS operator
FROM (
    SELECT train_id FROM train_manifests
    UNION SELECT train_id FROM train_loading_lists
    UNION SELECT train_id FROM train_permissions
) AS t;

-- Keyset pagination of deviations on (occurred_at, event_id), overall and by node.
CREATE INDEX deviations_by_time ON deviations (occurred_at, event_id);
CREATE INDEX deviations_by_node ON deviations (node_id, occurred_at, event_id);
CREATE INDEX deviations_by_kind_key ON deviations (kind, occurred_at, event_id);
