-- The control schema (shard 0 only; run with search_path = control, as shop_owner). It says where every
-- logical shard lives, which physical shards exist, and which email belongs to which user.

-- Settings fixed at first start: the number of logical shards N (the app refuses to start when its N differs).
CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL
);

-- The physical shards the app was configured with (SHARD_ENDPOINTS plus shard 0), as last seen at start-up:
-- for operators and the shard manager. Never a password: URLs are stored without their credentials.
CREATE TABLE shards (
  shard_id text PRIMARY KEY CHECK (shard_id ~ '^[0-9a-z][0-9a-z-]{0,30}$'),
  writer text NOT NULL,
  reader text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Where each logical shard lives. `epoch` is raised (to max(epoch) + 1) on every change of a row, so
-- max(epoch) is the map's version: instances poll it and reload the map when it moves. A logical shard that
-- is `moving` (being copied) or `fenced` (writes blocked for the cut-over) refuses writes.
CREATE TABLE shard_map (
  logical_shard integer PRIMARY KEY CHECK (logical_shard >= 0),
  shard_id text NOT NULL,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving', 'fenced')),
  epoch bigint NOT NULL DEFAULT 1 CHECK (epoch >= 1)
);
CREATE INDEX shard_map_epoch_idx ON shard_map (epoch);

-- Global email directory: log-in by email finds the user id (and so the shard) here, and the primary key
-- makes an email unique across every shard, whichever instance signs it up.
CREATE TABLE email_directory (
  email text PRIMARY KEY,
  user_id uuid NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The SQL twin of logicalShard() in app/src/sharding/logical-shard.ts: the first 4 bytes of md5(id::text)
-- as an unsigned integer, modulo n. bit(32)::bigint reads the bits unsigned.
CREATE FUNCTION logical_shard(id uuid, n integer) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT ((('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint) % n)::integer $$;

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO shop_app', current_schema());
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO shop_app', current_schema());
  -- The app claims and releases emails; it never changes the map, the shard list or the settings.
  EXECUTE format('GRANT INSERT, DELETE ON %I.email_directory TO shop_app', current_schema());
END
$$;
