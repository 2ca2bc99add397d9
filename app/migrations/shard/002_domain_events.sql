-- Domain events (stage 1m), per logical shard schema: the users consumer's order count on the user row and its
-- dedupe records beside it. Both move with the logical shard (the move publishes every table of the schema), so a
-- redelivered OrderPlaced is recognised on the new physical shard too. The outbox itself is per physical database
-- (public.event_outbox, migration 006): see there why.
ALTER TABLE users ADD COLUMN order_count integer NOT NULL DEFAULT 0 CHECK (order_count >= 0);

CREATE TABLE processed_events (
  consumer text NOT NULL,
  event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

DO $$
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO shop_app', current_schema());
END
$$;
