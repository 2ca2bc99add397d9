import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHandler,
  putResponse,
  runMigrationTask,
  type CustomResourceEvent,
  type EcsApi,
  type MigrationTaskProperties,
} from '../../lib/functions/run-migration-task';
import { resourcesOf, synthStage } from '../support/synth';

const properties: MigrationTaskProperties = {
  ClusterArn: 'arn:aws:ecs:us-east-1:123456789012:cluster/shop',
  TaskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/migrate:7',
  ContainerName: 'Migrate',
  Subnets: ['subnet-1', 'subnet-2'],
  SecurityGroups: ['sg-1'],
  LogGroupName: 'shop-logs',
};
const taskArn = 'arn:aws:ecs:us-east-1:123456789012:task/shop/0123456789abcdef';

/** An ECS fake: the task runs for `polls` looks, then stops with `exitCode`; records the calls. */
function fakeEcs(options: {
  polls?: number;
  exitCode?: number;
  deniedTimes?: number;
  startFailure?: string;
}) {
  const calls: { runTask: unknown[]; describeTasks: unknown[] } = { runTask: [], describeTasks: [] };
  let denied = options.deniedTimes ?? 0;
  let looks = 0;
  const ecs: EcsApi = {
    runTask: async (input) => {
      calls.runTask.push(input);
      if (denied > 0) {
        denied -= 1;
        throw Object.assign(new Error('not authorized to perform ecs:RunTask'), {
          name: 'AccessDeniedException',
        });
      }
      if (options.startFailure !== undefined)
        return { tasks: [], failures: [{ reason: options.startFailure }] };
      return { tasks: [{ taskArn }] };
    },
    describeTasks: async (input) => {
      calls.describeTasks.push(input);
      looks += 1;
      if (looks <= (options.polls ?? 1)) return { tasks: [{ taskArn, lastStatus: 'RUNNING' }] };
      return {
        tasks: [
          {
            taskArn,
            lastStatus: 'STOPPED',
            stopCode: 'EssentialContainerExited',
            stoppedReason: 'Essential container in task exited',
            containers: [{ name: 'Migrate', exitCode: options.exitCode ?? 0 }],
          },
        ],
      };
    },
  };
  return { ecs, calls };
}
const noWait = { remainingMs: () => 600_000, sleep: async () => undefined, pollIntervalMs: 1 };

describe('runMigrationTask (the function that runs the migration task on deployment)', () => {
  test('starts one Fargate task in the given network and returns once it exited 0', async () => {
    // GIVEN
    const { ecs, calls } = fakeEcs({ polls: 3 });
    // WHEN
    const result = await runMigrationTask(ecs, properties, noWait);
    // THEN
    expect(result).toEqual({ TaskArn: taskArn, ExitCode: '0' });
    expect(calls.runTask).toEqual([
      {
        cluster: properties.ClusterArn,
        taskDefinition: properties.TaskDefinitionArn,
        launchType: 'FARGATE',
        count: 1,
        startedBy: 'cloudformation-migrations',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ['subnet-1', 'subnet-2'],
            securityGroups: ['sg-1'],
            assignPublicIp: 'DISABLED',
          },
        },
      },
    ]);
    expect(calls.describeTasks).toHaveLength(4);
    expect(calls.describeTasks[0]).toEqual({ cluster: properties.ClusterArn, tasks: [taskArn] });
  });

  test('fails with the exit code, the reason and where the log is when the migration exits 1', async () => {
    const { ecs } = fakeEcs({ exitCode: 1 });
    await expect(runMigrationTask(ecs, properties, noWait)).rejects.toThrow(
      /stopped with exit code 1 \(EssentialContainerExited; Essential container in task exited\); its log is in shop-logs \(stream migrate\/Migrate\/0123456789abcdef\)/,
    );
  });

  test('fails with the reason ECS gives when it cannot start the task', async () => {
    const { ecs } = fakeEcs({ startFailure: 'RESOURCE:ENI' });
    await expect(runMigrationTask(ecs, properties, noWait)).rejects.toThrow(
      'ECS did not start the migration task arn:aws:ecs:us-east-1:123456789012:task-definition/migrate:7: RESOURCE:ENI',
    );
  });

  test('retries while IAM has not yet allowed the new task definition revision', async () => {
    const { ecs, calls } = fakeEcs({ deniedTimes: 2 });
    await expect(runMigrationTask(ecs, properties, noWait)).resolves.toMatchObject({ ExitCode: '0' });
    expect(calls.runTask).toHaveLength(3);
  });

  test('gives up in time to answer CloudFormation when the task is still running', async () => {
    // GIVEN: 60 s left, 30 s reserved, 10 s between looks
    let remaining = 60_000;
    const { ecs } = fakeEcs({ polls: 1_000 });
    // WHEN / THEN
    await expect(
      runMigrationTask(ecs, properties, {
        remainingMs: () => remaining,
        sleep: async (ms) => void (remaining -= ms),
      }),
    ).rejects.toThrow(/is still RUNNING as the deployment's wait ends; its log is in shop-logs/);
    expect(remaining).toBeGreaterThanOrEqual(30_000);
  });
});

describe('the custom-resource handler', () => {
  const event = (requestType: CustomResourceEvent['RequestType']): CustomResourceEvent => ({
    RequestType: requestType,
    ResponseURL: 'https://example.invalid/response',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/shop-service/1',
    RequestId: 'request-1',
    LogicalResourceId: 'MigrationRun95D15400',
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: 'MigrationRun95D15400-migrations' }),
    ResourceProperties: properties,
  });
  const context = { getRemainingTimeInMillis: () => 600_000 };

  test.each(['Create', 'Update'] as const)('on %s runs the task and answers SUCCESS', async (type) => {
    const { ecs, calls } = fakeEcs({});
    const put = jest.fn(async () => undefined);
    await createHandler({ ecs: () => ecs, put, sleep: async () => undefined, pollIntervalMs: 1 })(
      event(type),
      context,
    );
    expect(calls.runTask).toHaveLength(1);
    expect(put).toHaveBeenCalledTimes(1);
    const [url, body] = put.mock.calls[0] as unknown as [string, string];
    expect(url).toBe('https://example.invalid/response');
    expect(JSON.parse(body)).toEqual({
      Status: 'SUCCESS',
      Data: { TaskArn: taskArn, ExitCode: '0' },
      PhysicalResourceId: 'MigrationRun95D15400-migrations',
      StackId: event(type).StackId,
      RequestId: 'request-1',
      LogicalResourceId: 'MigrationRun95D15400',
    });
  });

  test('answers FAILED with the reason when the migration fails, so the deployment stops', async () => {
    const { ecs } = fakeEcs({ exitCode: 1 });
    const put = jest.fn(async () => undefined);
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
    await createHandler({ ecs: () => ecs, put, sleep: async () => undefined, pollIntervalMs: 1 })(
      event('Update'),
      context,
    );
    const body = JSON.parse((put.mock.calls[0] as unknown as [string, string])[1]) as Record<string, string>;
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toMatch(/exit code 1/);
  });

  test('does nothing on Delete but answer SUCCESS', async () => {
    const { ecs, calls } = fakeEcs({});
    const put = jest.fn(async () => undefined);
    await createHandler({ ecs: () => ecs, put, sleep: async () => undefined })(event('Delete'), context);
    expect(calls.runTask).toEqual([]);
    expect(JSON.parse((put.mock.calls[0] as unknown as [string, string])[1])).toMatchObject({
      Status: 'SUCCESS',
    });
  });
});

describe('the function as deployed (the inline code of the template, run by Node.js)', () => {
  let server: Server;
  let url: string;
  const received: { method?: string; contentType?: string; body: string }[] = [];
  let dir: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ method: request.method, contentType: request.headers['content-type'], body });
        response.writeHead(request.url === '/refused' ? 403 : 200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/signed`;
    dir = mkdtempSync(join(tmpdir(), 'migration-runner-'));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test('putResponse sends the body with an empty content type and fails on a refusal', async () => {
    await putResponse(url, '{"Status":"SUCCESS"}');
    expect(received.at(-1)).toEqual({ method: 'PUT', contentType: '', body: '{"Status":"SUCCESS"}' });
    await expect(putResponse(url.replace(/signed$/, 'refused'), '{}')).rejects.toThrow(
      'CloudFormation refused the response: HTTP 403',
    );
  });

  test("the template's inline handler runs the task through the SDK's ECS client and answers CloudFormation", async () => {
    // GIVEN: the function's code as synthesised, and a stand-in for the runtime's @aws-sdk/client-ecs
    const stage = synthStage('1k', { nag: false });
    const runner = Object.entries(resourcesOf(stage.json.service, 'AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('MigrationRunner'),
    )![1];
    const code = (runner.Properties?.Code as { ZipFile: string }).ZipFile;
    expect(code.length).toBeLessThan(4096);
    writeFileSync(join(dir, 'index.js'), code);
    mkdirSync(join(dir, 'node_modules', '@aws-sdk', 'client-ecs'), { recursive: true });
    writeFileSync(
      join(dir, 'node_modules', '@aws-sdk', 'client-ecs', 'index.js'),
      `exports.ECS = class {
        async runTask(input) { return { tasks: [{ taskArn: 'arn:aws:ecs:r:1:task/shop/abc', input }] }; }
        async describeTasks() {
          return { tasks: [{ lastStatus: 'STOPPED', containers: [{ name: 'Migrate', exitCode: 0 }] }] };
        }
      };`,
    );
    const event = {
      RequestType: 'Create',
      ResponseURL: url,
      StackId: 'stack',
      RequestId: 'r1',
      LogicalResourceId: 'MigrationRun',
      ResourceProperties: properties,
    };
    // WHEN
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        [
          '-e',
          `require('./index.js').handler(${JSON.stringify(event)}, { getRemainingTimeInMillis: () => 600000 })`,
        ],
        { cwd: dir, timeout: 30_000 },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    // THEN
    expect(JSON.parse(received.at(-1)!.body)).toMatchObject({
      Status: 'SUCCESS',
      Data: { TaskArn: 'arn:aws:ecs:r:1:task/shop/abc', ExitCode: '0' },
      PhysicalResourceId: 'MigrationRun-migrations',
      RequestId: 'r1',
    });
  });
});
