-- The move from the unsharded layout (stage 10k's public tables) into the logical shard schemas on shard 0
-- (tools/unsharded-move). control.settings gains `user_data_layout`: 'unsharded' while a 10k database's users and
-- orders are still in public (the bootstrap records it when it finds users there), 'sharded' once the move flipped
-- it; absent means sharded (a layout bootstrapped before this migration started empty).

-- The mover's progress: one row per move, each batch commits its cursor with the rows it copied.
CREATE TABLE layout_move (
  id integer PRIMARY KEY CHECK (id = 1),
  step text NOT NULL CHECK (step IN ('copying', 'fenced', 'done')),
  users_after uuid,
  orders_after uuid,
  changes_applied bigint NOT NULL DEFAULT 0,
  batches integer NOT NULL DEFAULT 0,
  rows_copied bigint NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(),
  fenced_at timestamptz,
  flipped_at timestamptz
);

-- Keys of the public user rows written while the move runs (the app still writes there until the fence): the
-- mover re-syncs them, so a row changed, added behind the cursor or deleted after its batch is not lost.
CREATE TABLE layout_move_changes (
  seq bigserial PRIMARY KEY,
  table_name text NOT NULL,
  user_id uuid NOT NULL,
  key_id uuid NOT NULL,
  line_no integer NOT NULL DEFAULT 0
);

-- The trigger function the mover attaches to public.users, public.orders and public.order_items for the move.
-- SECURITY DEFINER, so the app role needs no privilege on the log; a fixed search_path, as such functions must.
CREATE FUNCTION record_layout_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
DECLARE
  r record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_TABLE_NAME = 'users' THEN
    INSERT INTO control.layout_move_changes (table_name, user_id, key_id) VALUES ('users', r.id, r.id);
  ELSIF TG_TABLE_NAME = 'orders' THEN
    INSERT INTO control.layout_move_changes (table_name, user_id, key_id) VALUES ('orders', r.user_id, r.id);
  ELSE
    INSERT INTO control.layout_move_changes (table_name, user_id, key_id, line_no)
    VALUES ('order_items', r.user_id, r.order_id, r.line_no);
  END IF;
  -- An UPDATE that moves a row to another user (never done by the app) is recorded under both users. Nested
  -- IFs: OLD has no user_id on users, and SQL does not promise to short-circuit AND.
  IF TG_OP = 'UPDATE' THEN
    IF TG_TABLE_NAME = 'orders' THEN
      IF OLD.user_id IS DISTINCT FROM NEW.user_id THEN
        INSERT INTO control.layout_move_changes (table_name, user_id, key_id) VALUES ('orders', OLD.user_id, OLD.id);
      END IF;
    ELSIF TG_TABLE_NAME = 'order_items' THEN
      IF OLD.user_id IS DISTINCT FROM NEW.user_id THEN
        INSERT INTO control.layout_move_changes (table_name, user_id, key_id, line_no)
        VALUES ('order_items', OLD.user_id, OLD.order_id, OLD.line_no);
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION record_layout_change() FROM PUBLIC;

DO $$
BEGIN
  EXECUTE format('GRANT SELECT ON %I.layout_move, %I.layout_move_changes TO shop_app', current_schema(), current_schema());
END
$$;
