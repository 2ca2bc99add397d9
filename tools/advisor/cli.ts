/**
 * `npm run advise -- --region <r> [--prefix shop] [--stage <id>] [--days 14] [--format text|json|markdown]`:
 * reads a deployed stage's CloudWatch metrics and says when to scale within the stage or move to the next.
 * Exit codes: 0 no action, 1 action recommended, 2 usage error, 3 nothing could be read.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DEFAULT_MONITORING_CONFIG } from '../../lib/config';
import { stageById, stageIds } from '../../stages';
import { allStageIds, synthStage } from '../upgrade/stage-synth';
import { runAdvise } from './run';

const cloudFormation = new Map<string, CloudFormationClient>();
const cloudWatch = new Map<string, CloudWatchClient>();
const cached = <T>(clients: Map<string, T>, region: string, make: () => T): T => {
  if (!clients.has(region)) clients.set(region, make());
  return clients.get(region) as T;
};

void runAdvise(process.argv.slice(2), {
  // Credentials: the SDK's default provider chain (environment, profile and SSO, container and instance roles).
  cloudFormation: (region) => cached(cloudFormation, region, () => new CloudFormationClient({ region })),
  cloudWatch: (region) => cached(cloudWatch, region, () => new CloudWatchClient({ region })),
  implementedStages: allStageIds,
  synth: synthStage,
  monitoring: (id) =>
    stageIds.includes(id) ? { ...DEFAULT_MONITORING_CONFIG, ...stageById(id).monitoring } : undefined,
  now: () => new Date(),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`Error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 3;
  },
);
