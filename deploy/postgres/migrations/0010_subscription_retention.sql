-- Subscription queues and delivery logs are kept for a retention period, not for ever: the
-- delivery worker deletes queued notifications recorded before it once they are delivered (a
-- webhook's, up to its delivered_seq) or were only to be streamed, and delivery log entries
-- older than it; a webhook's notifications not yet delivered are never deleted. pruned_through
-- is the last seq deleted from a subscription's queue: a stream resumed from before it is told
-- what it missed (an SSE `gap` event) instead of silently skipping it.
ALTER TABLE subscriptions ADD COLUMN pruned_through bigint NOT NULL DEFAULT 0;
CREATE INDEX subscription_events_by_time ON subscription_events (recorded_at);
CREATE INDEX subscription_deliveries_by_time ON subscription_deliveries (attempted_at);
