-- Least privilege: the app is not the schema owner. Two group roles (NOLOGIN, so no password ever lives in SQL):
--
--   shop_owner  owns every table and sequence; migrations run as this role (the migrator logs in as the
--               cluster's master user, or any member, and runMigrations does SET ROLE shop_owner), so the
--               objects of later migrations are owned by it too and the default privileges below cover them.
--   shop_app    DML only: SELECT, INSERT, UPDATE, DELETE on tables, USAGE and SELECT on sequences. No CREATE,
--               no ownership (so no ALTER, DROP, TRUNCATE, GRANT), not a superuser.
--
-- Login users are members of these groups and are made outside SQL files: the migration task creates the
-- app's login user from its Secrets Manager secret (scram verifier, see app/src/db/app-login.ts), the
-- multi-user rotation function clones it (GRANT <user> TO <user>_clone), tests create throw-away members.
--
-- Role names are global to the PostgreSQL cluster while everything else here is per database: several
-- databases on one server (tests, local topologies) share the two roles and each gets its own grants. Every
-- statement is idempotent and safe when another database's migration creates the same roles at the same
-- moment (the loser of that race gets unique_violation or duplicate_object, which is caught).
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['shop_owner', 'shop_app'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- created concurrently by a migration of another database
      END;
    END IF;
  END LOOP;
END
$$;

-- The migrator must be able to SET ROLE shop_owner (and, to hand its tables over, be a member). A superuser
-- already can; the RDS master user (CREATEROLE, not superuser) gets the membership here.
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'shop_owner', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT shop_owner TO %I', current_user);
    EXCEPTION WHEN unique_violation THEN
      NULL; -- granted concurrently
    END;
  END IF;
END
$$;

-- Nobody but the owner creates objects in the schema (PostgreSQL 15 already revoked this from PUBLIC; older
-- databases restored from a dump may still have it).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO shop_owner;
GRANT USAGE ON SCHEMA public TO shop_app;

-- Hand every existing table, view and sequence of the schema to shop_owner: on a deployed database they were
-- created by the master user that ran migrations 001 and 002 (the app itself, before this migration).
-- Sequences owned by a table column move with their table.
DO $$
DECLARE
  rel record;
BEGIN
  FOR rel IN
    SELECT c.relname, c.relkind
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public'
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND pg_get_userbyid(c.relowner) <> 'shop_owner'
       AND NOT (c.relkind = 'S' AND EXISTS (
             SELECT 1 FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format(
      'ALTER %s %I OWNER TO shop_owner',
      CASE rel.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                       WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      rel.relname);
  END LOOP;
END
$$;

-- What the app may do today...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO shop_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO shop_app;
-- ...except rewrite the migration history: it may read it (the start-up check that the schema is current).
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM shop_app;

-- ...and on every table and sequence later migrations create (they run as shop_owner).
ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO shop_app;
ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO shop_app;
