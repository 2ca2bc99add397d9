/**
 * `npm run global -- switchover --to <region>` and `npm run global -- failover --to <region> --allow-data-loss`:
 * move the writer of every Aurora global cluster of stage global, then the sessions Global Datastore's primary,
 * to another region of the deployment. Usage: `npm run global -- --help`; the procedure around it:
 * docs/runbooks/global-switchover-and-failover.md.
 * Exit codes: 0 done, 1 stopped part way (the report says what moved), 2 usage error or refused before any
 * change, 3 AWS could not be read before any change.
 */
import type { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import type { RDSClient } from '@aws-sdk/client-rds';
import { stageIds, stages } from '../../stages';
import { globalExitCodes } from './args';
import { elastiCacheClient, rdsClient } from './aws-clients';
import { runGlobal } from './run';

const rds = new Map<string, RDSClient>();
const elastiCache = new Map<string, ElastiCacheClient>();
const cached = <T>(clients: Map<string, T>, region: string, make: (region: string) => T): T => {
  if (!clients.has(region)) clients.set(region, make(region));
  return clients.get(region) as T;
};

void runGlobal(process.argv.slice(2), {
  // Created on first use only: --dry-run and --help create no client and need no credentials.
  rds: (region) => cached(rds, region, rdsClient),
  elastiCache: (region) => cached(elastiCache, region, elastiCacheClient),
  stageConfig: (id) => (Object.prototype.hasOwnProperty.call(stages, id) ? stages[id] : undefined),
  stageIds,
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  stdout: process.stdout,
  stderr: process.stderr,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`Error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = globalExitCodes.partial;
  },
);
