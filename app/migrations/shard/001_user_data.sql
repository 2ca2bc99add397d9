-- One logical shard's user data (run once per schema ls_000 ... with search_path = that schema, as
-- shop_owner, on every physical shard: a shard's schema exists, empty, on the shards it does not live on, so
-- a move only copies rows). The same tables as the unsharded layout (migration 002): UUIDv7 ids made by the
-- app, nothing referencing the catalog, everything of one user in one schema.
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  name text NOT NULL,
  password_hash text NOT NULL,
  role text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Unique per schema as a second line of defence; across shards control.email_directory decides.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE orders (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id),
  status text NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'cancelled')),
  total_cents bigint NOT NULL CHECK (total_cents >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_id_idx ON orders (user_id, id DESC);

CREATE TABLE order_items (
  order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  line_no integer NOT NULL CHECK (line_no >= 1),
  user_id uuid NOT NULL,
  product_id uuid NOT NULL,
  name text NOT NULL,
  quantity integer NOT NULL CHECK (quantity >= 1),
  unit_price_cents integer NOT NULL CHECK (unit_price_cents >= 0),
  PRIMARY KEY (order_id, line_no)
);

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO shop_app', current_schema());
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO shop_app', current_schema());
  EXECUTE format(
    'ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO shop_app',
    current_schema());
END
$$;
