import type { Session } from 'fastify';
import type { Database, SqlExecutor } from '../../src/db/database';
import { ReadRouter } from '../../src/read-routing';

/** A database with a replica whose writer reports `lsn`; reader and writer are told apart by identity. */
function fakeShard(lsn: string): Database {
  const executor = (): SqlExecutor => ({ query: async () => ({ rows: [] }) });
  const writer = executor();
  const reader = executor();
  return {
    kind: 'postgres',
    hasReplica: true,
    writer,
    reader,
    query: writer.query,
    transaction: async <T>(fn: (tx: SqlExecutor) => Promise<T>) => fn(writer),
    withConnection: async () => {
      throw new Error('not used');
    },
    writerLsn: async () => lsn,
    replicaReplayPosition: async () => ({ kind: 'unknown' }),
    replicaHasReplayed: async () => false,
    withReaderTransaction: async <T>(fn: (tx: SqlExecutor) => Promise<T>) => fn(reader),
    ping: async () => {},
    close: async () => {},
  } as unknown as Database;
}

test("a write on shard 1 keeps that user's shard-1 reads off its replica, and leaves shard 0's reads alone", async () => {
  // GIVEN two physical shards, each with a replica, and a session that wrote on shard 1 only
  const shard0 = fakeShard('0/AA');
  const shard1 = fakeShard('0/16B3D28');
  const reads0 = new ReadRouter(shard0, 60_000, '0');
  const reads1 = new ReadRouter(shard1, 60_000, '1');
  const session = {} as Session;
  await reads1.recordWrite(session);

  // THEN the marker holds shard 1's own WAL position, under its id, and none for shard 0
  expect(session.rywShards?.['1']?.lsn).toBe('0/16B3D28');
  expect(session.ryw).toBeUndefined();
  // AND shard 1's reads for this session check the replica's position (a read-your-writes reader), while
  // shard 0's go straight to its replica
  const source1 = await reads1.readerFor(session);
  expect(source1).not.toBe(shard1.reader);
  expect(reads1.readsOwnWrites(source1)).toBe(true);
  expect(await reads0.readerFor(session)).toBe(shard0.reader);

  // AND a write on shard 0 adds shard 0's marker without touching shard 1's
  await reads0.recordWrite(session);
  expect(session.ryw?.lsn).toBe('0/AA');
  expect(session.rywShards?.['1']?.lsn).toBe('0/16B3D28');
});

test('an elapsed marker is removed from the session, and the map of markers with it', async () => {
  const shard1 = fakeShard('0/1');
  const reads1 = new ReadRouter(shard1, 0, '1');
  const session = {} as Session;
  await reads1.recordWrite(session);
  expect(session.rywShards?.['1']).toBeDefined();
  expect(await reads1.readerFor(session)).toBe(shard1.reader);
  expect(session.rywShards).toBeUndefined();
});
