-- The shard manager's record of moves (tools/shards; run with search_path = control, as shop_owner, on shard 0).
-- One row per logical shard being moved: the last step completed, so a manager that was killed resumes or rolls
-- back from there; and one history line per finished or aborted move. The manager connects as an administrator;
-- the app role gets nothing here (it never reads or writes moves: it only sees the map's states).
CREATE TABLE shard_moves (
  logical_shard integer PRIMARY KEY CHECK (logical_shard >= 0),
  source_shard text NOT NULL,
  target_shard text NOT NULL,
  step text NOT NULL,
  target_schema_created boolean NOT NULL DEFAULT false,
  subscription_oid bigint,
  fence_lsn pg_lsn,
  flipped_at timestamptz,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  error text
);

CREATE TABLE shard_move_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  logical_shard integer NOT NULL,
  source_shard text NOT NULL,
  target_shard text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('completed', 'aborted')),
  detail text,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now()
);
