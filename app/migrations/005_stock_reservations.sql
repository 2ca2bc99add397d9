-- Stock held for an order whose rows live in another database (the sharded layout of stage 100k: the catalog
-- is on shard 0, the order on the user's shard). Placing such an order reserves stock here, keyed by the order
-- id (idempotent), writes the order on the user's shard, then confirms the reservation; a failed write releases
-- it by the same key. A reservation left unconfirmed (the process died in between) is settled by the
-- reconciler: confirmed when the order exists on its shard, released when it does not. Unused (empty) in the
-- unsharded layout, where one statement places the order.
CREATE TABLE stock_reservations (
  order_id uuid NOT NULL,
  product_id uuid NOT NULL REFERENCES products (id),
  user_id uuid NOT NULL,
  quantity integer NOT NULL CHECK (quantity >= 1),
  reserved_at timestamptz NOT NULL DEFAULT now(),
  confirmed_at timestamptz,
  PRIMARY KEY (order_id, product_id)
);

-- The reconciler's scan: unconfirmed reservations, oldest first.
CREATE INDEX stock_reservations_unconfirmed_idx ON stock_reservations (reserved_at) WHERE confirmed_at IS NULL;
