/**
 * Compares a logical shard's schema on the source and the target, the way Vitess's VDiff does: per table, the
 * primary-key space is cut into ranges of about `chunkRows` rows (boundaries taken from the source), and each
 * range's row count and md5 of its rows in primary-key order are compared on both sides, in parallel.
 */
import type { ClientBase } from 'pg';
import { tableShapes } from './schema-copy';

/** A primary-key range whose rows differ. Bounds are the PK values as text (`null`: open end). */
export interface RangeDifference {
  readonly table: string;
  readonly after: string[] | null;
  readonly upTo: string[] | null;
  readonly sourceRows: number;
  readonly targetRows: number;
}

/** What {@link compareSchema} found. */
export interface VerifyResult {
  readonly ok: boolean;
  readonly tables: { table: string; sourceRows: number; targetRows: number; ranges: number }[];
  readonly differences: RangeDifference[];
  /** Problems that are not row differences: a table missing on one side, different columns, no primary key. */
  readonly problems: string[];
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

interface TableKey {
  /** Primary-key columns, in key order, with their types. */
  readonly pk: { name: string; type: string }[];
  /** Every column, by name (the same order on both sides, whatever each side's column order). */
  readonly columns: string[];
}

async function tableKey(db: ClientBase, schema: string, table: string): Promise<TableKey> {
  const { rows: pk } = await db.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
     FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE n.nspname = $1 AND c.relname = $2 AND x.indisprimary ORDER BY k.ord`,
    [schema, table],
  );
  const { rows: cols } = await db.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attname`,
    [schema, table],
  );
  return { pk, columns: cols.map((c) => c.name) };
}

/** `ROW(pk) > ROW($i::type, ...)` for a bound, with its parameters appended to `params`. */
function bound(key: TableKey, op: '>' | '<=', values: string[], params: unknown[]): string {
  const placeholders = key.pk.map((col, i) => {
    params.push(values[i]);
    return `$${params.length}::${col.type}`;
  });
  return `ROW(${key.pk.map((c) => q(c.name)).join(', ')}) ${op} ROW(${placeholders.join(', ')})`;
}

async function rangeDigest(
  db: ClientBase,
  schema: string,
  table: string,
  key: TableKey,
  after: string[] | null,
  upTo: string[] | null,
): Promise<{ n: number; h: string }> {
  const params: unknown[] = [];
  const where = [
    ...(after ? [bound(key, '>', after, params)] : []),
    ...(upTo ? [bound(key, '<=', upTo, params)] : []),
  ];
  const order = key.pk.map((c) => q(c.name)).join(', ');
  const { rows } = await db.query<{ n: string; h: string | null }>(
    `SELECT count(*) AS n,
            md5(string_agg(ROW(${key.columns.map(q).join(', ')})::text, E'\\n' ORDER BY ${order})) AS h
     FROM ${q(schema)}.${q(table)} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`,
    params,
  );
  return { n: Number(rows[0].n), h: rows[0].h ?? '' };
}

/** Options of {@link compareSchema}. */
export interface CompareOptions {
  /** Rows per primary-key range. @default 10000 */
  readonly chunkRows?: number;
  /** Compare only these ranges (a re-check of earlier differences). */
  readonly only?: readonly RangeDifference[];
}

/** Compares every table of `schema` on the source and the target. Never changes either side. */
export async function compareSchema(
  source: ClientBase,
  target: ClientBase,
  schema: string,
  options: CompareOptions = {},
): Promise<VerifyResult> {
  const chunkRows = options.chunkRows ?? 10_000;
  const problems: string[] = [];
  const [sourceShapes, targetShapes] = [await tableShapes(source, schema), await tableShapes(target, schema)];
  for (const [table, cols] of sourceShapes) {
    const other = targetShapes.get(table);
    if (other === undefined) problems.push(`table ${schema}.${table} is missing on the target`);
    else if (other !== cols)
      problems.push(`table ${schema}.${table} has different columns: source (${cols}), target (${other})`);
  }
  for (const table of targetShapes.keys())
    if (!sourceShapes.has(table)) problems.push(`table ${schema}.${table} exists only on the target`);
  const tables: VerifyResult['tables'] = [];
  const differences: RangeDifference[] = [];
  for (const table of sourceShapes.keys()) {
    if (!targetShapes.has(table)) continue;
    const key = await tableKey(source, schema, table);
    if (key.pk.length === 0) {
      problems.push(`table ${schema}.${table} has no primary key: it cannot be moved by logical replication`);
      continue;
    }
    let ranges: { after: string[] | null; upTo: string[] | null }[];
    if (options.only) {
      ranges = options.only.filter((d) => d.table === table);
      if (ranges.length === 0) continue;
    } else {
      const cols = key.pk.map((c) => q(c.name)).join(', ');
      const { rows } = await source.query<{ b: string[] }>(
        `SELECT ARRAY[${key.pk.map((c) => `${q(c.name)}::text`).join(', ')}] AS b
         FROM (SELECT ${cols}, row_number() OVER (ORDER BY ${cols}) AS rn FROM ${q(schema)}.${q(table)}) x
         WHERE rn % $1 = 0 ORDER BY ${cols}`,
        [chunkRows],
      );
      const bounds = rows.map((row) => row.b);
      ranges = [...bounds, null].map((upTo, i) => ({ after: i === 0 ? null : bounds[i - 1], upTo }));
    }
    let sourceRows = 0;
    let targetRows = 0;
    for (const range of ranges) {
      const [s, t] = await Promise.all([
        rangeDigest(source, schema, table, key, range.after, range.upTo),
        rangeDigest(target, schema, table, key, range.after, range.upTo),
      ]);
      sourceRows += s.n;
      targetRows += t.n;
      if (s.n !== t.n || s.h !== t.h) differences.push({ table, ...range, sourceRows: s.n, targetRows: t.n });
    }
    tables.push({ table, sourceRows, targetRows, ranges: ranges.length });
  }
  return { ok: problems.length === 0 && differences.length === 0, tables, differences, problems };
}

/** One line per difference or problem, for errors and the CLI. */
export function describeVerify(result: VerifyResult): string {
  const lines = [
    ...result.problems,
    ...result.differences.map(
      (d) =>
        `${d.table}: rows with key in (${d.after?.join(',') ?? '-inf'}, ${d.upTo?.join(',') ?? '+inf'}] differ ` +
        `(source ${d.sourceRows}, target ${d.targetRows})`,
    ),
  ];
  return lines.length ? lines.join('\n') : 'identical';
}
