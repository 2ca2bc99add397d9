import { App, Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { createBlueprintApp } from '../../lib/blueprint';
import {
  minimumVpcPrefix,
  networkCidrProblems,
  shardIdsDropped,
  StageConfigError,
  SUBNET_LAYOUT,
  validateStageConfig,
} from '../../lib/config';
import {
  stage100k,
  stage10k,
  stage1k,
  stage1m,
  stageById,
  stageContext,
  stageGlobal,
  stageIds,
  stages,
  stageSequenceProblems,
  type StageConfig,
} from '../../stages';

/** A config the type checker would reject: what JSON, tools or a careless spread can produce. */
const loose = (config: unknown) => config as StageConfig;

/** Builds the app and returns the StageConfigError it throws (fails the test when it does not throw). */
function configError(config: StageConfig, context: Record<string, unknown> = {}): StageConfigError {
  try {
    createBlueprintApp({ config, context, nag: false });
  } catch (error) {
    if (error instanceof StageConfigError) return error;
    throw error;
  }
  throw new Error('expected createBlueprintApp to throw a StageConfigError');
}

/** Asserts that exactly the given keys are reported, each with the value received and a fix. */
function expectProblems(error: StageConfigError, keys: string[]): void {
  expect(error.problems.map((p) => p.key).sort()).toEqual([...keys].sort());
  for (const problem of error.problems) {
    expect(error.message).toContain(`${problem.key}: received`);
    expect(problem.fix.length).toBeGreaterThan(10);
  }
}

describe('the stage registry', () => {
  test('lists 1k, 10k, 100k, 1m then global, each with its config', () => {
    // THEN
    expect(stageIds).toEqual(['1k', '10k', '100k', '1m', 'global']);
    expect(stageById('global')).toBe(stageGlobal);
    expect(stageById('1m')).toBe(stage1m);
    expect(stageById('1k')).toBe(stage1k);
    expect(stageById('10k')).toBe(stage10k);
    expect(stageById('100k')).toBe(stage100k);
    expect(Object.keys(stages)).toEqual([...stageIds]);
  });

  test('fails for an unknown stage id, naming it and the valid ones', () => {
    // WHEN / THEN
    expect(() => stageById('100m')).toThrow(/Unknown stage "100m".*Valid stages: 1k, 10k, 100k, 1m, global/);
    expect(() => stageById('toString')).toThrow(/Unknown stage "toString"/);
  });

  test('10k is 1k plus its delta: the writer and the network shape are unchanged', () => {
    // THEN
    expect(stage10k.database.writer).toBe(stage1k.database.writer);
    expect(Object.keys(stage10k.network)).toEqual(Object.keys(stage1k.network));
    expect(stage10k.database.readers.count).toBe(3);
    expect(stage10k.service.autoscaling.minCapacity).toBe(3);
    expect(stage10k.cache.numCacheClusters).toBeGreaterThanOrEqual(2);
    expect('proxy' in stage1k).toBe(false);
    expect('cache' in stage1k).toBe(false);
  });

  test.each(stageIds)('stage %s passes validation with the default context (and its own)', (id) => {
    // WHEN / THEN
    expect(() =>
      createBlueprintApp({ config: stageById(id), context: stageContext(id), nag: false }),
    ).not.toThrow();
  });
});

describe('config validation fails synth with one error naming key, value and fix', () => {
  test('fails when readers have no writer', () => {
    // GIVEN
    const config = loose({ ...stage10k, database: { ...stage10k.database, writer: undefined } });
    // WHEN
    const error = configError(config);
    // THEN
    expectProblems(error, ['database.writer', 'proxy']);
    expect(error.message).toMatch(/readers replicate from a writer/);
  });

  test('fails when min tasks are above max tasks', () => {
    const config = loose({
      ...stage10k,
      service: { ...stage10k.service, autoscaling: { ...stage10k.service.autoscaling, minCapacity: 20 } },
    });
    const error = configError(config);
    expectProblems(error, ['service.autoscaling.minCapacity']);
    expect(error.message).toContain('service.autoscaling.minCapacity: received 20');
    expect(error.message).toContain('maxCapacity (12)');
  });

  test('fails when a service has both desiredCount and autoscaling (they are a union)', () => {
    const config = loose({ ...stage10k, service: { ...stage10k.service, desiredCount: 3 } });
    const error = configError(config);
    expectProblems(error, ['service.desiredCount']);
    expect(error.message).toContain('service.desiredCount: received 3. Fix: remove it: with autoscaling');
  });

  test('fails when a service has neither desiredCount nor autoscaling', () => {
    const { desiredCount: _omitted, ...withoutCount } = stage1k.service;
    expectProblems(configError(loose({ ...stage1k, service: withoutCount })), ['service.desiredCount']);
  });

  test('fails when a proxy has no database', () => {
    const config = loose({ ...stage10k, database: undefined });
    const error = configError(config);
    expectProblems(error, ['database', 'proxy']);
    expect(error.message).toMatch(/proxy: received .*RDS Proxy pools connections to a database/);
  });

  test('fails when counts are negative or zero', () => {
    const config = loose({
      ...stage10k,
      network: { ...stage10k.network, natGateways: -1 },
      service: { ...stage10k.service, desiredCount: 0, autoscaling: undefined },
      database: { ...stage10k.database, readers: { ...stage10k.database.readers, count: -2 } },
    });
    const error = configError(config);
    expectProblems(error, ['network.natGateways', 'service.desiredCount', 'database.readers.count']);
    expect(error.message).toContain('network.natGateways: received -1');
    expect(error.message).toContain('database.readers.count: received -2');
  });

  test('fails when a count is not a whole number', () => {
    const config = loose({ ...stage1k, service: { ...stage1k.service, desiredCount: 1.5 } });
    expectProblems(configError(config), ['service.desiredCount']);
  });

  test('fails when there are more NAT gateways than AZs', () => {
    const config = loose({ ...stage1k, network: { ...stage1k.network, natGateways: 4 } });
    expectProblems(configError(config), ['network.natGateways']);
  });

  test('fails when the VPC spans fewer than 2 AZs', () => {
    const config = loose({ ...stage1k, network: { ...stage1k.network, maxAzs: 1 } });
    expectProblems(configError(config), ['network.maxAzs']);
  });

  test('fails when the VPC CIDR is malformed', () => {
    const config = loose({ ...stage1k, network: { ...stage1k.network, cidr: '10.0.0.0/8' } });
    expectProblems(configError(config), ['network.cidr']);
  });

  test('fails when instance types are not instance classes', () => {
    const config = loose({
      ...stage10k,
      database: {
        ...stage10k.database,
        writer: { instanceType: new ec2.InstanceType('huge') },
        readers: { count: 3, instanceType: 'r7g' },
      },
      cache: { ...stage10k.cache, cacheNodeType: 't4g.small' },
    });
    const error = configError(config);
    expectProblems(error, [
      'database.writer.instanceType',
      'database.readers.instanceType',
      'cache.cacheNodeType',
    ]);
    expect(error.message).toContain('database.writer.instanceType: received "huge"');
  });

  test('fails when the cache has no nodes, or too few for Multi-AZ failover', () => {
    for (const numCacheClusters of [0, 1]) {
      const config = loose({ ...stage10k, cache: { ...stage10k.cache, numCacheClusters } });
      expectProblems(configError(config), ['cache.numCacheClusters']);
    }
  });

  test('fails when the cache engine, snapshots or proxy limits are out of range', () => {
    const config = loose({
      ...stage10k,
      cache: { ...stage10k.cache, engineVersion: '5.0.6', snapshotRetentionLimit: 90 },
      proxy: { maxConnectionsPercent: 0, idleClientTimeout: 30 },
    });
    expectProblems(configError(config), [
      'cache.engineVersion',
      'cache.snapshotRetentionLimit',
      'proxy.maxConnectionsPercent',
      'proxy.idleClientTimeout',
    ]);
  });

  test('fails when the Fargate size does not exist', () => {
    const config = loose({ ...stage1k, service: { ...stage1k.service, cpu: 300, memoryLimitMiB: 1024 } });
    expectProblems(configError(config), ['service.cpu']);
    const memory = loose({ ...stage1k, service: { ...stage1k.service, cpu: 512, memoryLimitMiB: 8192 } });
    expectProblems(configError(memory), ['service.memoryLimitMiB']);
  });

  test('fails when the CPU target or request target is nonsense', () => {
    const config = loose({
      ...stage10k,
      service: {
        ...stage10k.service,
        cpuArchitecture: 'SPARC',
        autoscaling: {
          ...stage10k.service.autoscaling,
          targetCpuUtilizationPercent: 100,
          requestsPerTarget: 0,
        },
      },
    });
    expectProblems(configError(config), [
      'service.cpuArchitecture',
      'service.autoscaling.targetCpuUtilizationPercent',
      'service.autoscaling.requestsPerTarget',
    ]);
  });

  test('fails when backups are kept for less than 7 days', () => {
    const config = loose({
      ...stage1k,
      database: { ...stage1k.database, backupRetention: Duration.days(1) },
    });
    const error = configError(config);
    expectProblems(error, ['database.backupRetention']);
    expect(error.message).toContain('received Duration.days(1)');
  });

  test('fails when the database name is not a PostgreSQL identifier', () => {
    const config = loose({ ...stage1k, database: { ...stage1k.database, databaseName: 'My-Shop' } });
    expectProblems(configError(config), ['database.databaseName']);
  });

  test('fails when required sections are missing', () => {
    const error = configError(loose({ description: '' }));
    expectProblems(error, ['description', 'network', 'service', 'database']);
  });

  test('fails when a monitoring threshold makes no sense', () => {
    // GIVEN: a negative latency, a percentage above 100 and a fractional count
    const config = loose({
      ...stage1k,
      monitoring: { albP99LatencyMs: -5, serviceCpuPercent: 120, alb5xxMinRequests: 1.5 },
    });
    // WHEN
    const error = configError(config);
    // THEN: reported by the stage validation, keyed by the stage's own path, not by the construct later
    expectProblems(error, [
      'monitoring.albP99LatencyMs',
      'monitoring.serviceCpuPercent',
      'monitoring.alb5xxMinRequests',
    ]);
    expect(error.message).toContain(
      'monitoring.albP99LatencyMs: received -5. Fix: give a number greater than 0',
    );
    expect(error.message).not.toContain('config.albP99LatencyMs');
  });

  test('fails when a monitoring threshold is not a number (a missing one takes its default)', () => {
    const config = loose({
      ...stage1k,
      monitoring: { replicaLagMs: undefined, cacheHitRatePercentMin: 'high' },
    });
    expectProblems(configError(config), ['monitoring.replicaLagMs', 'monitoring.cacheHitRatePercentMin']);
  });

  test('fails when monitoring is not an object of thresholds', () => {
    expectProblems(configError(loose({ ...stage1k, monitoring: 5 })), ['monitoring']);
  });

  test('reports a bad monitoring threshold in the same error as the other problems', () => {
    // GIVEN
    const config = loose({
      ...stage10k,
      network: { ...stage10k.network, natGateways: 0 },
      monitoring: { albP99LatencyMs: -5 },
    });
    // WHEN
    const error = configError(config, { prefix: 'Bad_Prefix' });
    // THEN
    expect(error.message).toMatch(/^Invalid stage configuration \(3 problems\):/);
    expectProblems(error, ['network.natGateways', 'monitoring.albP99LatencyMs', 'context.prefix']);
  });

  test('skips values that are unresolved tokens (known only at deploy time)', () => {
    // GIVEN: counts that would be invalid as literals are tokens here
    const config = loose({
      ...stage10k,
      service: { ...stage1k.service, desiredCount: Lazy.number({ produce: () => 0 }) },
      cache: { ...stage10k.cache, cacheNodeType: Lazy.string({ produce: () => 'nonsense' }) },
    });
    // WHEN / THEN
    expect(validateStageConfig(config)).toEqual([]);
  });

  test('reports every problem at once, in one error', () => {
    // GIVEN: three unrelated mistakes
    const config = loose({
      ...stage10k,
      network: { ...stage10k.network, natGateways: 0 },
      cache: { ...stage10k.cache, numCacheClusters: 0 },
      database: { ...stage10k.database, readers: { ...stage10k.database.readers, count: 0 } },
    });
    // WHEN
    const error = configError(config);
    // THEN
    expect(error.message).toMatch(/^Invalid stage configuration \(3 problems\):/);
    expectProblems(error, ['network.natGateways', 'cache.numCacheClusters', 'database.readers.count']);
  });
});

describe('deployment context validation', () => {
  test('fails when the account, region or zones are malformed', () => {
    const error = configError(stage1k, { account: '1234', region: 'Mars', availabilityZones: 'us-east-1a' });
    expectProblems(error, ['context.account', 'context.region', 'context.availabilityZones']);
  });

  test('fails when fewer zones are given than the stage spans', () => {
    const error = configError(stage1k, { availabilityZones: ['us-east-1a', 'us-east-1b'] });
    expectProblems(error, ['context.availabilityZones']);
    expect(error.message).toContain('spans 3 zones');
  });

  test('fails when a zone belongs to another region', () => {
    const error = configError(stage1k, { availabilityZones: 'us-east-1a,us-east-1b,eu-west-1a' });
    expectProblems(error, ['context.availabilityZones']);
  });

  test('fails when only half of the HTTPS settings are given', () => {
    // A name without a certificate or a hosted zone; a certificate without the name it serves.
    const error = configError(stage1k, { domainName: 'shop.example.com' });
    expectProblems(error, ['context.domainName']);
    expect(error.message).toContain('-c hostedZoneId=Z...');
    const noName = configError(stage1k, {
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc-123',
    });
    expectProblems(noName, ['context.domainName']);
  });

  test('fails when the certificate is from another region or the emails are malformed', () => {
    const error = configError(stage1k, {
      domainName: 'shop.example.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc-123',
      alarmEmail: 'not-an-email',
      adminEmails: 'a@example.com,nope',
      prefix: 'Shop Prod',
    });
    expectProblems(error, [
      'context.certificateArn',
      'context.alarmEmail',
      'context.adminEmails',
      'context.prefix',
    ]);
  });

  test('fails when validate is not true or false', () => {
    const error = configError(stage1k, { validate: 'maybe' });
    expectProblems(error, ['context.validate']);
    expect(error.message).toContain('context.validate: received "maybe"');
  });

  test('fails when the prefix would make an invalid RDS or ElastiCache identifier', () => {
    for (const prefix of ['shop-', 'shop--prod', '1shop', 'a-very-long-prefix-name']) {
      expectProblems(configError(stage1k, { prefix }), ['context.prefix']);
    }
    expect(() =>
      createBlueprintApp({ config: stage1k, nag: false, context: { prefix: 'acme-prod' } }),
    ).not.toThrow();
  });

  test('accepts zones as a comma-separated string or JSON, as -c passes them', () => {
    for (const availabilityZones of [
      'eu-west-1a,eu-west-1b,eu-west-1c',
      '["eu-west-1a","eu-west-1b","eu-west-1c"]',
    ]) {
      expect(() =>
        createBlueprintApp({
          config: stage1k,
          nag: false,
          context: { region: 'eu-west-1', availabilityZones },
        }),
      ).not.toThrow();
    }
  });
});

describe('network.cidr matches the subnet layout CDK builds', () => {
  test('a /20 is too small for 3 AZs: the error names the layout and the minimum, /19', () => {
    // GIVEN a CIDR that passed validation before and then failed inside CDK ("exceeds remaining space")
    const config = loose({ ...stage1k, network: { ...stage1k.network, cidr: '10.0.0.0/20' } });
    // WHEN
    const error = configError(config);
    // THEN
    expectProblems(error, ['network.cidr']);
    expect(error.message).toContain(
      'network.cidr: received "10.0.0.0/20". Fix: the subnet layout (public /24, private /22, isolated /24 in ' +
        'each of 3 AZs) needs at least a /19; use /16 to /19, e.g. "10.0.0.0/16"',
    );
  });

  test('the same /20 fits 2 AZs, and synth builds it', () => {
    const config = loose({ ...stage1k, network: { ...stage1k.network, cidr: '10.0.0.0/20', maxAzs: 2 } });
    expect(() => createBlueprintApp({ config, nag: false })).not.toThrow();
    expect(minimumVpcPrefix(2)).toBe(20);
    expect(minimumVpcPrefix(3)).toBe(19);
  });

  test('fails when the address has bits set after the prefix, naming the network address', () => {
    expect(networkCidrProblems('10.0.8.0/19', 3)).toEqual([
      {
        key: 'network.cidr',
        received: '10.0.8.0/19',
        fix: 'use the network address "10.0.0.0/19": the bits after /19 must be zero',
      },
    ]);
    expect(networkCidrProblems('10.0.32.0/19', 3)).toEqual([]);
  });

  test('validation agrees with CDK for every size and AZ count', () => {
    const builds = (cidr: string, azCount: number) => {
      const stack = new Stack(new App(), 'Probe', { env: { account: '123456789012', region: 'us-east-1' } });
      try {
        new ec2.Vpc(stack, 'Vpc', {
          ipAddresses: ec2.IpAddresses.cidr(cidr),
          availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d'].slice(0, azCount),
          subnetConfiguration: [...SUBNET_LAYOUT],
        });
        return true;
      } catch {
        return false;
      }
    };
    for (const azCount of [2, 3, 4]) {
      for (let prefix = 16; prefix <= 24; prefix++) {
        const cidr = `10.0.0.0/${prefix}`;
        expect({ cidr, azCount, valid: networkCidrProblems(cidr, azCount).length === 0 }).toEqual({
          cidr,
          azCount,
          valid: builds(cidr, azCount),
        });
      }
    }
  });
});

describe('the network is permanent across stages', () => {
  const registry = (next: StageConfig) => ({ ids: ['first', 'next'], stages: { first: stage1k, next } });

  test('every stage keeps the CIDR and AZ count of the stage before it', () => {
    for (const id of stageIds) expect(stageSequenceProblems(id)).toEqual([]);
  });

  test('a different CIDR is a config error that says why', () => {
    const next = { ...stage10k, network: { ...stage10k.network, cidr: '10.1.0.0/16' } };

    const problems = stageSequenceProblems('next', registry(next));

    expect(new StageConfigError(problems).message).toBe(
      'Invalid stage configuration (1 problem):\n' +
        '  - network.cidr: received "10.1.0.0/16". Fix: keep "10.0.0.0/16" as in stage first: a VPC\'s CIDR is ' +
        'permanent once deployed (a new one replaces the VPC and every subnet, which the database, proxy and cache ' +
        'cannot leave); for more addresses, add a secondary CIDR block instead',
    );
  });

  test('a different AZ count is a config error that says why', () => {
    const next = { ...stage10k, network: { ...stage10k.network, maxAzs: 2, natGateways: 2 } };

    const problems = stageSequenceProblems('next', registry(next));

    expect(problems).toEqual([
      {
        key: 'network.maxAzs',
        received: 2,
        fix:
          'keep 3 as in stage first: the AZ count is permanent once deployed (it fixes the subnet layout; a new ' +
          'count moves or deletes the subnets the database, proxy and cache live in)',
      },
    ]);
  });

  test('the first stage has nothing to keep', () => {
    expect(stageSequenceProblems('first', registry(stage10k))).toEqual([]);
  });
});

describe('shards and services as data', () => {
  const writer = { instanceType: ec2.InstanceType.of(ec2.InstanceClass.R7G, ec2.InstanceSize.LARGE) };
  const users = {
    cpu: 512,
    memoryLimitMiB: 1024,
    desiredCount: 1,
    route: { pathPatterns: ['/api/users/*'], priority: 10 },
  };

  test('accepts a further shard and a further service', () => {
    expect(
      validateStageConfig({ ...stage10k, shards: { s1: { writer, proxy: {} } }, services: { users } }),
    ).toEqual([]);
  });

  test('fails when a shard id is 0 (the database) or not a stable id, and checks each shard like the database', () => {
    const config = loose({
      ...stage10k,
      shards: {
        '0': { writer },
        S1: { writer },
        s2: { readers: { count: 1, instanceType: writer.instanceType } },
      },
    });
    expectProblems(configError(config), ['shards.0', 'shards.S1', 'shards.s2.writer']);
  });

  test('fails when two services share a listener priority, a route is missing, or an id is taken', () => {
    const config = loose({
      ...stage10k,
      services: {
        users,
        orders: { ...users, route: { pathPatterns: ['/api/orders/*'], priority: 10 } },
        shop: { ...users, route: { pathPatterns: ['/x'], priority: 11 } },
        products: { ...users, route: undefined },
      },
    });
    expectProblems(configError(config), [
      'services.orders.route.priority',
      'services.shop',
      'services.products.route',
    ]);
  });

  test('shard ids are permanent: every shipped stage keeps the shard ids of the stage before it', () => {
    for (const [index, id] of stageIds.slice(1).entries()) {
      expect([id, shardIdsDropped(stageById(stageIds[index]!), stageById(id))]).toEqual([id, []]);
    }
    // The check itself sees a dropped id.
    expect(shardIdsDropped({ ...stage10k, shards: { s1: { writer } } }, stage10k)).toEqual(['s1']);
  });
});
