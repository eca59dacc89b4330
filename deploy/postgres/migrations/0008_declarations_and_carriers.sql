-- Declaration states as the tracking core took them (iotrack.clearance.declarations.v1):
-- Customs-only (a control and its note), shown in Customs' timeline of each IOT_ID bound to it.
CREATE TABLE declaration_states (
    mrn          text        PRIMARY KEY,
    state        text        NOT NULL,
    event_id     uuid        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    procedure    text,
    declarant    text,
    note         text,
    source       text        NOT NULL
);

-- A carrier's verdict (a plate, a wagon) lists every IOT_ID it carries, each with its own.
ALTER TABLE clearance_by_itu ADD COLUMN carried jsonb NOT NULL DEFAULT '[]';
