-- Subscriptions (issue 12): a party's filters on deviations, verdicts or trains, delivered as
-- signed webhooks and as resumable server-sent events. Written by the API (the party's CRUD)
-- and by the delivery worker (`iotrack subscriptions run`): both need a writer role on these
-- tables only (the query API's role stays read-only on the projection).
CREATE TABLE subscriptions (
    subscription_id       uuid        PRIMARY KEY,
    owner_role            text        NOT NULL,
    owner_operator        text,
    topic                 text        NOT NULL CHECK (topic IN ('deviations', 'verdicts', 'trains')),
    filters               jsonb       NOT NULL DEFAULT '{}'::jsonb,
    url                   text,
    secret                text        NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    status                text        NOT NULL DEFAULT 'ACTIVE'
                                      CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    suspended_reason      text,
    failing_since         timestamptz,
    delivered_seq         bigint      NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_by_owner ON subscriptions (owner_role, owner_operator, created_at);

-- What each subscription is to receive, in order: the delivery worker writes these rows and
-- its Kafka positions in one transaction, so a kill neither loses nor repeats one. `seq` orders
-- them (one worker writes at a time: it holds an advisory lock); webhooks deliver after
-- `subscriptions.delivered_seq`, a stream after the client's Last-Event-ID.
CREATE TABLE subscription_events (
    subscription_id uuid        NOT NULL REFERENCES subscriptions ON DELETE CASCADE,
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    key             text        NOT NULL,
    payload         jsonb       NOT NULL,
    published_at    timestamptz,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, seq)
);

-- The delivery worker's position in each topic partition it reads.
CREATE TABLE subscription_positions (
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Every webhook attempt: when, what, the answer and how long it took.
CREATE TABLE subscription_deliveries (
    delivery_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id uuid        NOT NULL REFERENCES subscriptions ON DELETE CASCADE,
    attempted_at    timestamptz NOT NULL DEFAULT now(),
    attempt         int         NOT NULL,
    first_seq       bigint      NOT NULL,
    last_seq        bigint      NOT NULL,
    events          int         NOT NULL,
    status_code     int,
    error           text,
    latency_ms      double precision NOT NULL
);
CREATE INDEX subscription_deliveries_by_subscription
    ON subscription_deliveries (subscription_id, delivery_id);
