-- Domain events (stage 1m): the transactional outbox of OrderPlaced, OrderCancelled, ProductChanged and
-- UserRegistered, and the consumers' dedupe records. Every physical database gets these tables (shard 0, which
-- holds the catalog, and every other shard, which run the public migrations too).
--
-- Where things live, so that a logical shard's move loses nothing:
-- * event_outbox is per PHYSICAL database (public schema), not per logical shard schema. An event is written by
--   the same statement as the change, on the database the change is on; once committed it is an immutable fact
--   that no longer belongs to the user's rows, and the relay of that database publishes it whether or not the
--   logical shard has moved away since (a move fences ls_NNN only, never public). One table per database also
--   keeps the relay to one query per poll instead of one per logical shard. (A physical shard is retired only
--   after its outbox is drained: see the README.)
-- * The dedupe records of a consumer whose effect is on user rows (the order count) live WITH those rows, in
--   ls_NNN.processed_events (migration shard/002): the move copies them with the rows in the same logical
--   replication stream, so an event redelivered after a move is still recognised. Consumers whose effect is in
--   public tables (stock on the catalog; the order count in the unsharded layout) use public.processed_events.
CREATE TABLE event_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  -- The envelope as published: { id, type, version, occurredAt, data }.
  envelope jsonb NOT NULL CHECK (envelope ->> 'id' = event_id::text AND envelope ->> 'type' = type),
  -- clock_timestamp, not now(): the delay metric measures from the insert itself.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  sent_at timestamptz,
  -- Set by the relay for an event that fails its schema (never published; kept for an operator).
  failed_at timestamptz,
  error text
);
CREATE INDEX event_outbox_unsent_idx ON event_outbox (id) WHERE sent_at IS NULL;
CREATE INDEX event_outbox_sent_at_idx ON event_outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('event_outbox', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER event_outbox_notify
  AFTER INSERT ON event_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify();

-- One row per (consumer, event) applied: inserted in the transaction of the effect, so a redelivered event finds
-- its row and applies nothing (exactly-once effect on at-least-once delivery).
CREATE TABLE processed_events (
  consumer text NOT NULL,
  event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

-- Stock given back for a cancelled order, keyed by the order: a second OrderCancelled of the same order (another
-- event id) releases nothing again.
CREATE TABLE stock_releases (
  order_id uuid PRIMARY KEY,
  released_at timestamptz NOT NULL DEFAULT now()
);

-- The users consumer's projection of OrderPlaced (unsharded layout; shard/002 adds it to every ls_NNN.users).
ALTER TABLE users ADD COLUMN order_count integer NOT NULL DEFAULT 0 CHECK (order_count >= 0);
