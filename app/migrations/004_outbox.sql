-- Transactional outbox of cache invalidations. Every database that holds cached data (today the one
-- database; later the catalog and each user shard) gets this table from the same migration, and a write
-- that changes cached rows inserts its event here in its own transaction: no commit, no event; a commit,
-- an event, even if the process dies right after. A relay publishes unsent rows to the queue, then marks
-- them sent (at least once: a crash in between publishes a row again, never loses one).
CREATE TABLE invalidation_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id uuid NOT NULL DEFAULT gen_random_uuid(),
  tags text[] NOT NULL CHECK (cardinality(tags) BETWEEN 1 AND 1000),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);

-- The relay's batch query reads only unsent rows, oldest first; sent rows stay out of this index.
CREATE INDEX invalidation_outbox_unsent_idx ON invalidation_outbox (id) WHERE sent_at IS NULL;
-- Pruning of sent rows.
CREATE INDEX invalidation_outbox_sent_at_idx ON invalidation_outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Wakes relays listening on the channel when a writing transaction commits (NOTIFY is delivered at commit,
-- and one per statement, not per row). Relays also poll, so a missed notification only costs latency.
CREATE FUNCTION invalidation_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('invalidation_outbox', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER invalidation_outbox_notify
  AFTER INSERT ON invalidation_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION invalidation_outbox_notify();
