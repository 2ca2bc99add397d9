/**
 * The custom-resource handler that runs the migration task during a deployment (see `MigrationTask`).
 *
 * On create and update it starts the migration task definition named in the resource's properties as one
 * Fargate task, waits until the task stops and answers CloudFormation: SUCCESS when the migration container
 * exited 0, FAILED otherwise (so the deployment stops before the service changes, and rolls back). On delete it
 * does nothing. CloudFormation sends an update whenever a property changes, and the task definition's ARN
 * changes with every new revision (a new image, a new setting): every deployment that changes the task runs it.
 *
 * It runs in Lambda (Node.js, with the AWS SDK for JavaScript v3 in the runtime) and is inlined into the
 * template (transpiled by esbuild at synth), so it imports nothing; the SDK is required when it runs.
 */

/** The properties of the custom resource (strings, as CloudFormation passes them). */
export interface MigrationTaskProperties {
  /** ARN of the ECS cluster to run in. */
  readonly ClusterArn: string;
  /** ARN of the migration task definition (with its revision). */
  readonly TaskDefinitionArn: string;
  /** Name of the container whose exit code decides. */
  readonly ContainerName: string;
  /** Subnets of the task (private, with a route to the AWS APIs). */
  readonly Subnets: readonly string[];
  /** Security groups of the task (admitted to the database). */
  readonly SecurityGroups: readonly string[];
  /** Where the task logs (named in errors). */
  readonly LogGroupName: string;
}

/** The parts of the ECS API the handler calls (the SDK's `ECS` client has these methods). */
export interface EcsApi {
  runTask(input: {
    cluster: string;
    taskDefinition: string;
    launchType: 'FARGATE';
    count: number;
    startedBy: string;
    networkConfiguration: {
      awsvpcConfiguration: { subnets: string[]; securityGroups: string[]; assignPublicIp: 'DISABLED' };
    };
  }): Promise<{
    tasks?: { taskArn?: string }[];
    failures?: { arn?: string; reason?: string; detail?: string }[];
  }>;
  describeTasks(input: { cluster: string; tasks: string[] }): Promise<{
    tasks?: {
      taskArn?: string;
      lastStatus?: string;
      stoppedReason?: string;
      stopCode?: string;
      containers?: { name?: string; exitCode?: number; reason?: string }[];
    }[];
    failures?: { arn?: string; reason?: string }[];
  }>;
}

/** Timing of {@link runMigrationTask}. */
export interface RunOptions {
  /** Milliseconds left before the function times out. */
  readonly remainingMs: () => number;
  /** Waits `ms` milliseconds. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Between two looks at the task. @default 10 000 */
  readonly pollIntervalMs?: number;
  /** Stop waiting when this little time is left, to answer CloudFormation in time. @default 30 000 */
  readonly reserveMs?: number;
}

/** What a successful run returns (the custom resource's attributes). */
export interface RunResult {
  readonly TaskArn: string;
  readonly ExitCode: string;
}

/** The error names with which ECS refuses a call that IAM has not yet allowed (policies propagate in seconds). */
const NOT_YET_ALLOWED = new Set(['AccessDeniedException', 'AccessDenied']);

/**
 * Runs the migration task once and waits for it.
 *
 * @throws Error naming the task, its exit code and reason, and the log group, when it does not exit 0, when
 *   ECS cannot start it, or when it is still running as the function's time runs out.
 */
export async function runMigrationTask(
  ecs: EcsApi,
  properties: MigrationTaskProperties,
  options: RunOptions,
): Promise<RunResult> {
  const pollIntervalMs = options.pollIntervalMs ?? 10_000;
  const reserveMs = options.reserveMs ?? 30_000;
  const input = {
    cluster: properties.ClusterArn,
    taskDefinition: properties.TaskDefinitionArn,
    launchType: 'FARGATE' as const,
    count: 1,
    startedBy: 'cloudformation-migrations',
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: [...properties.Subnets],
        securityGroups: [...properties.SecurityGroups],
        assignPublicIp: 'DISABLED' as const,
      },
    },
  };
  let started: Awaited<ReturnType<EcsApi['runTask']>>;
  for (;;) {
    try {
      started = await ecs.runTask(input);
      break;
    } catch (err) {
      // The role's policy names the new task definition revision and was updated moments ago.
      if (!NOT_YET_ALLOWED.has((err as Error).name) || options.remainingMs() < reserveMs + pollIntervalMs)
        throw err;
      await options.sleep(pollIntervalMs);
    }
  }
  const taskArn = started.tasks?.[0]?.taskArn;
  if (taskArn === undefined) {
    const failure = started.failures?.[0];
    throw new Error(
      `ECS did not start the migration task ${properties.TaskDefinitionArn}: ` +
        `${failure?.reason ?? 'no task and no failure returned'}${failure?.detail ? ` (${failure.detail})` : ''}`,
    );
  }
  console.log(JSON.stringify({ msg: 'migration task started', taskArn }));
  const logHint = `its log is in ${properties.LogGroupName} (stream migrate/${properties.ContainerName}/${taskArn.split('/').pop()})`;

  for (;;) {
    const { tasks } = await ecs.describeTasks({ cluster: properties.ClusterArn, tasks: [taskArn] });
    const task = tasks?.[0];
    if (task?.lastStatus === 'STOPPED') {
      const container = task.containers?.find((candidate) => candidate.name === properties.ContainerName);
      const exitCode = container?.exitCode;
      if (exitCode === 0) {
        console.log(JSON.stringify({ msg: 'migration task exited 0', taskArn }));
        return { TaskArn: taskArn, ExitCode: '0' };
      }
      throw new Error(
        `The migration task ${taskArn} stopped ${exitCode !== undefined ? `with exit code ${exitCode}` : 'without an exit code'}` +
          ` (${[task.stopCode, task.stoppedReason, container?.reason].filter(Boolean).join('; ') || 'no reason given'}); ${logHint}`,
      );
    }
    if (options.remainingMs() < reserveMs + pollIntervalMs) {
      throw new Error(
        `The migration task ${taskArn} is still ${task?.lastStatus ?? 'starting'} as the deployment's wait ends; ` +
          `${logHint}. Deploy again once it has finished (a finished migration is not repeated).`,
      );
    }
    await options.sleep(pollIntervalMs);
  }
}

/** A CloudFormation custom-resource event, the fields used here. */
export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: MigrationTaskProperties & { readonly ServiceToken?: string };
}

/** What the handler needs from the outside world (replaced in tests). */
export interface HandlerDependencies {
  /** The ECS client. */
  readonly ecs: () => EcsApi;
  /** Sends the response to CloudFormation's pre-signed URL. */
  readonly put: (url: string, body: string) => Promise<void>;
  /** Waits `ms` milliseconds. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Between two looks at the task. @default 10 000 */
  readonly pollIntervalMs?: number;
}

/** Builds the Lambda handler around its dependencies. It always answers CloudFormation, even on failure. */
export function createHandler(dependencies: HandlerDependencies) {
  return async (
    event: CustomResourceEvent,
    context: { getRemainingTimeInMillis(): number; logStreamName?: string },
  ): Promise<void> => {
    const physicalResourceId = event.PhysicalResourceId ?? `${event.LogicalResourceId}-migrations`;
    let response: Record<string, unknown>;
    try {
      const data =
        event.RequestType === 'Delete'
          ? {}
          : await runMigrationTask(dependencies.ecs(), event.ResourceProperties, {
              remainingMs: () => context.getRemainingTimeInMillis(),
              sleep: dependencies.sleep,
              ...(dependencies.pollIntervalMs !== undefined
                ? { pollIntervalMs: dependencies.pollIntervalMs }
                : {}),
            });
      response = { Status: 'SUCCESS', Data: data };
    } catch (err) {
      console.error(err);
      // CloudFormation shows the reason in the stack events; the response must stay under 4 KB.
      response = { Status: 'FAILED', Reason: String((err as Error).message ?? err).slice(0, 1000) };
    }
    await dependencies.put(
      event.ResponseURL,
      JSON.stringify({
        ...response,
        PhysicalResourceId: physicalResourceId,
        StackId: event.StackId,
        RequestId: event.RequestId,
        LogicalResourceId: event.LogicalResourceId,
      }),
    );
  };
}

/** Sends a custom-resource response to CloudFormation's pre-signed S3 URL. */
export async function putResponse(url: string, body: string): Promise<void> {
  // The URL is signed for an empty content type.
  const answer = await fetch(url, { method: 'PUT', headers: { 'content-type': '' }, body });
  if (!answer.ok) throw new Error(`CloudFormation refused the response: HTTP ${answer.status}`);
}

/** The Lambda entry point. */
export const handler = createHandler({
  ecs: () => {
    // Required when the function runs: the Lambda runtime provides the SDK, this repository does not need it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ECS } = require('@aws-sdk/client-ecs') as { ECS: new () => EcsApi };
    return new ECS();
  },
  put: putResponse,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
});
