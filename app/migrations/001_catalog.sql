-- The product catalog: a global, read-heavy data set. It shares no foreign keys or joins with user data
-- (users, orders), so it can move to its own database when user data is sharded by user_id.
CREATE TABLE products (
  id uuid PRIMARY KEY,
  sku text NOT NULL,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  stock integer NOT NULL CHECK (stock >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  search tsvector GENERATED ALWAYS AS (to_tsvector('simple', name || ' ' || sku || ' ' || description)) STORED
);

CREATE UNIQUE INDEX products_sku_key ON products (sku);
-- Catalog pagination is keyset pagination on the primary key (UUIDv7 ids are time ordered).
-- Search: full-text match with prefix terms, served by this GIN index.
CREATE INDEX products_search_idx ON products USING gin (search);
