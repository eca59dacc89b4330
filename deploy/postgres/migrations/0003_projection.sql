-- The read side: the public state topics projected into tables for queries and gate checks.
-- Rows are written in the same transaction as the projection's position (consumer_positions),
-- so a crash never applies a record twice or skips one.

CREATE TABLE iot_state (
    iot_id           uuid        PRIMARY KEY,
    status           text        NOT NULL,
    mission_path_id  text        NOT NULL,
    current_node_id  text,
    last_seen_at     timestamptz,
    next_expected    text[]      NOT NULL DEFAULT '{}',
    deadline         timestamptz,
    definitive_at    timestamptz,
    version          bigint      NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- "May this unit leave?": one row per ITU identifier key (KIND:value, KIND:country:value).
CREATE TABLE clearance_by_itu (
    itu_key      text        PRIMARY KEY,
    iot_id       uuid,
    verdict      text        NOT NULL,
    may_leave    boolean     NOT NULL,
    mrns_pending text[]      NOT NULL DEFAULT '{}',
    open_holds   jsonb       NOT NULL DEFAULT '[]',
    reasons      text[]      NOT NULL DEFAULT '{}',
    as_of        timestamptz NOT NULL
);

CREATE TABLE deviations (
    event_id        uuid        PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    iot_id          uuid,
    kind            text        NOT NULL,
    severity        text        NOT NULL,
    node_id         text,
    read_point_id   text,
    itu_key         text,
    mission_path_id text,
    expected        text        NOT NULL,
    observed        text        NOT NULL
);

CREATE INDEX deviations_by_iot ON deviations (iot_id, occurred_at);
CREATE INDEX deviations_by_kind ON deviations (kind, occurred_at);
