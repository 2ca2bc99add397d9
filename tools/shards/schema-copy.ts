/**
 * Step 1 of a move: the logical shard's schema definition on the target, without secondary indexes, and those
 * indexes (with unique and foreign keys) built after the copy.
 *
 * Tables come from `pg_dump --schema-only --section=pre-data` (Postgres's own deparser of tables, types,
 * defaults, check constraints and sequences: nothing to hand-write and keep up with), run on the target in one
 * transaction. pg_dump puts primary keys in post-data, but the subscription needs them during the copy (the
 * apply worker finds the rows of UPDATE and DELETE by the replica identity index), so primary keys, and then
 * the rest of post-data, are read from the source's catalog with the server's own deparsers
 * (`pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_triggerdef`) and created by name when missing: each
 * statement is idempotent, so a rerun after a crash creates only what is missing.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { ClientBase } from 'pg';
import { findPostgresBinDir } from '../local-topology/postgres-replication';

/** A schema-qualified DDL statement with the name it creates, in the order to run. */
export interface SchemaObject {
  readonly kind: 'primary key' | 'constraint' | 'index' | 'trigger';
  readonly table: string;
  readonly name: string;
  readonly ddl: string;
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The tables of a schema (ordinary and partitioned), ordered by name. */
export async function schemaTables(db: ClientBase, schema: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1`,
    [schema],
  );
  return rows.map((row) => row.name);
}

/** Whether a schema exists. */
export async function schemaExists(db: ClientBase, schema: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  return rows.length > 0;
}

/**
 * The post-data objects of a schema from its catalog: primary keys first, then unique, exclusion and foreign
 * key constraints, then indexes no constraint owns, then user triggers.
 */
export async function postDataObjects(db: ClientBase, schema: string): Promise<SchemaObject[]> {
  const { rows: constraints } = await db.query<{ t: string; name: string; def: string; contype: string }>(
    `SELECT c.relname AS t, con.conname AS name, pg_get_constraintdef(con.oid) AS def, con.contype::text
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'x', 'f')
     ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'f' THEN 2 ELSE 1 END, c.relname, con.conname`,
    [schema],
  );
  const { rows: indexes } = await db.query<{ t: string; name: string; def: string }>(
    `SELECT c.relname AS t, i.relname AS name, pg_get_indexdef(i.oid) AS def
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.oid
                                          AND con.conrelid = c.oid)
     ORDER BY c.relname, i.relname`,
    [schema],
  );
  const { rows: triggers } = await db.query<{ t: string; name: string; def: string }>(
    `SELECT c.relname AS t, tg.tgname AS name, pg_get_triggerdef(tg.oid) AS def
     FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND NOT tg.tgisinternal ORDER BY c.relname, tg.tgname`,
    [schema],
  );
  return [
    ...constraints.map((row) => ({
      kind: row.contype === 'p' ? ('primary key' as const) : ('constraint' as const),
      table: row.t,
      name: row.name,
      ddl: `ALTER TABLE ONLY ${q(schema)}.${q(row.t)} ADD CONSTRAINT ${q(row.name)} ${row.def}`,
    })),
    ...indexes.map((row) => ({ kind: 'index' as const, table: row.t, name: row.name, ddl: row.def })),
    ...triggers.map((row) => ({ kind: 'trigger' as const, table: row.t, name: row.name, ddl: row.def })),
  ];
}

/** Names of the post-data objects that exist in a schema, as `kind:table:name`. */
async function existingObjects(db: ClientBase, schema: string): Promise<Set<string>> {
  return new Set((await postDataObjects(db, schema)).map((o) => key(o)));
}
const key = (o: Pick<SchemaObject, 'kind' | 'table' | 'name'>) => `${o.kind}:${o.table}:${o.name}`;

/** Runs `pg_dump --schema-only --section=pre-data` of one schema and returns its SQL. */
export async function dumpPreData(sourceUrl: string, schema: string): Promise<string> {
  const pgDump = process.env.PG_DUMP ?? path.join(findPostgresBinDir(), 'pg_dump');
  return new Promise((resolve, reject) => {
    execFile(
      pgDump,
      [
        '--schema-only',
        '--section=pre-data',
        '--no-acl', // the manager grants the app role itself, at the flip
        '--no-publications',
        '--no-subscriptions',
        '--schema',
        schema,
        '--dbname',
        sourceUrl,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error)
          reject(
            new Error(
              `pg_dump of schema ${schema} failed (${pgDump}; set PG_DUMP to a pg_dump at least as new as ` +
                `the source server): ${stderr.trim() || error.message}`,
            ),
          );
        // pg_dump 15.14+ wraps its output in psql's \restrict/\unrestrict meta-commands (CVE-2025-8714);
        // this SQL goes to the server, not through psql, so they are dropped.
        else resolve(stdout.replace(/^\\(un)?restrict .*$/gm, ''));
      },
    );
  });
}

/**
 * Creates `schema` on the target from the source's pre-data dump plus its primary keys, in one transaction
 * (all or nothing, so a crash leaves no half schema).
 */
export async function createSchemaFromSource(
  sourceUrl: string,
  source: ClientBase,
  target: ClientBase,
  schema: string,
): Promise<void> {
  const preData = await dumpPreData(sourceUrl, schema);
  const primaryKeys = (await postDataObjects(source, schema)).filter((o) => o.kind === 'primary key');
  await target.query('BEGIN');
  try {
    await target.query(preData);
    for (const pk of primaryKeys) await target.query(pk.ddl);
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new Error(`creating schema ${schema} on the target failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // pg_dump's SET commands (search_path '') are session-wide: restore the default for the rest of the run.
  await target.query('RESET ALL');
}

/**
 * Drops what the copy does not need on an (empty) existing target schema: foreign keys, unique and exclusion
 * constraints, indexes other than primary keys, user triggers. They are rebuilt from the source's definitions by
 * {@link buildPostData} after the copy.
 */
export async function dropSecondaryObjects(target: ClientBase, schema: string): Promise<number> {
  const objects = (await postDataObjects(target, schema)).filter((o) => o.kind !== 'primary key');
  // Foreign keys first: a unique constraint or index may back one.
  const order = (o: SchemaObject) => (o.ddl.includes('FOREIGN KEY') ? 0 : o.kind === 'trigger' ? 1 : 2);
  for (const o of [...objects].sort((a, b) => order(a) - order(b))) {
    if (o.kind === 'constraint')
      await target.query(`ALTER TABLE ${q(schema)}.${q(o.table)} DROP CONSTRAINT IF EXISTS ${q(o.name)}`);
    else if (o.kind === 'index') await target.query(`DROP INDEX IF EXISTS ${q(schema)}.${q(o.name)}`);
    else await target.query(`DROP TRIGGER IF EXISTS ${q(o.name)} ON ${q(schema)}.${q(o.table)}`);
  }
  return objects.length;
}

/** Creates on the target every post-data object of the source schema that the target lacks; returns them. */
export async function buildPostData(
  source: ClientBase,
  target: ClientBase,
  schema: string,
  kinds: readonly SchemaObject['kind'][] = ['primary key', 'constraint', 'index', 'trigger'],
): Promise<SchemaObject[]> {
  const wanted = (await postDataObjects(source, schema)).filter((o) => kinds.includes(o.kind));
  const have = await existingObjects(target, schema);
  const built: SchemaObject[] = [];
  for (const o of wanted) {
    if (have.has(key(o))) continue;
    // A foreign key locks both of its tables while the subscription's apply worker writes them in the other
    // order: Postgres picks one of the two as the deadlock victim. Each statement is one idempotent DDL, so the
    // manager's is retried (40P01) a few times rather than stopping the move.
    for (let attempt = 1; ; attempt++) {
      try {
        await target.query(o.ddl);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
      }
    }
    built.push(o);
  }
  return built;
}

/**
 * Column lists of every table, `table: name type, ...`, for checking that source and target have the same shape
 * (a migration between a crash and the rerun, or a target made by something else).
 */
export async function tableShapes(db: ClientBase, schema: string): Promise<Map<string, string>> {
  const { rows } = await db.query<{ t: string; cols: string }>(
    `SELECT c.relname AS t,
            string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attname) AS cols
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY c.relname ORDER BY 1`,
    [schema],
  );
  return new Map(rows.map((row) => [row.t, row.cols]));
}
