-- Dead letters, kept queryable for the operations team: what was refused, where and why.
CREATE TABLE dead_letters (
    event_id       uuid        PRIMARY KEY,
    occurred_at    timestamptz NOT NULL,
    source         text        NOT NULL,
    error_kind     text        NOT NULL,
    reason         text        NOT NULL,
    source_topic   text,
    partition      integer,
    "offset"       bigint,
    reader_id      text,
    original_key   bytea,
    original_value bytea       NOT NULL
);

CREATE INDEX dead_letters_by_time ON dead_letters (occurred_at);
