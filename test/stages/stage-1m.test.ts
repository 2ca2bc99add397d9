/**
 * Stage 1m: users, products and orders as services of their own (SERVICE=<id>), on Service Connect, behind the
 * API gateway's internal load balancer, on the domain-event bus; each with least privilege. The first service
 * and the public load balancer stay as in 100k.
 */
import { Duration } from 'aws-cdk-lib';
import {
  EVENT_ROUTES,
  SERVICE_CONNECT_DEFAULTS,
  SERVICE_DEFAULTS,
  StageConfigError,
  validateStageConfig,
  type StageConfig,
} from '../../lib/config';
import { serviceEnvJsonSchema } from '../../app/src/services/service-config';
import { stage100k, stage1m } from '../../stages';
import { resourcesOf, synthStage } from '../support/synth';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(240_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed template JSON, read field by field
type Parsed = any;
type Resource = { Type: string; Properties: Record<string, Parsed>; DependsOn?: string[] };
type Statement = {
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Parsed>;
  Effect: string;
};

const SERVICE_IDS = ['users', 'orders', 'products'] as const;
const pascal = (id: string) => id.charAt(0).toUpperCase() + id.slice(1);

describe('stage 1m', () => {
  // GIVEN
  const stage = synthStage('1m', { nag: false });
  const service = stage.json.service;
  const all = resourcesOf(service) as Record<string, Resource>;
  const byPrefix = (type: string, prefix: string): [string, Resource] => {
    const found = Object.entries(all).filter(([id, r]) => r.Type === type && id.startsWith(prefix));
    if (found.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${found.length}`);
    return found[0]!;
  };
  const ecsService = (id: string) => byPrefix('AWS::ECS::Service', `Shop${pascal(id)}Service`);
  const appContainer = (id: string) => {
    const [, definition] = byPrefix('AWS::ECS::TaskDefinition', `Shop${pascal(id)}TaskDefinition`);
    return (definition.Properties.ContainerDefinitions as Record<string, Parsed>[]).find(
      (c) => c.Name === 'App',
    )!;
  };
  const environment = (id: string) =>
    Object.fromEntries(
      (appContainer(id).Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
    );
  const statements = (id: string): Statement[] => {
    const [, policy] = byPrefix('AWS::IAM::Policy', `Shop${pascal(id)}TaskDefinitionTaskRoleDefaultPolicy`);
    return policy.Properties.PolicyDocument.Statement as Statement[];
  };
  const actionsOf = (statement: Statement) => [statement.Action].flat();

  test('the stage is 100k plus services, gateway and events; the first service keeps its config', () => {
    expect(stage1m.service).toBe(stage100k.service);
    expect(stage1m.database).toBe(stage100k.database);
    expect(stage1m.shards).toBe(stage100k.shards);
    expect(Object.keys(stage1m.services).sort()).toEqual([...SERVICE_IDS].sort());
    expect(validateStageConfig(stage1m)).toEqual([]);
    // The monolith's task definition has no SERVICE: it keeps serving every route as in 100k.
    const [, shopDefinition] = byPrefix('AWS::ECS::TaskDefinition', 'ShopTaskDefinition');
    const shopEnv = JSON.stringify(shopDefinition.Properties.ContainerDefinitions);
    expect(shopEnv).not.toContain('"SERVICE"');
    // Behind the public load balancer, not the gateway: no client-address header to trust.
    expect(shopEnv).not.toContain('CLIENT_IP_HEADER');
  });

  test('the monolith publishes to the bus with the producer sources only, consumes no domain events, still consumes invalidations', () => {
    const [, shopDefinition] = byPrefix('AWS::ECS::TaskDefinition', 'ShopTaskDefinition');
    const app = (shopDefinition.Properties.ContainerDefinitions as Record<string, Parsed>[]).find(
      (c) => c.Name === 'App',
    )!;
    const env = Object.fromEntries(
      (app.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
    );
    expect(env.EVENT_BUS).toBe('eventbridge');
    expect(JSON.stringify(env.EVENT_BUS_NAME)).toMatch(/shop-data|EventsBus/);
    expect(env.EVENT_QUEUE_URL).toBeUndefined();
    expect(env.INVALIDATION_QUEUE_URL).toBeDefined();
    const policies = Object.entries(all).filter(
      ([policyId, r]) =>
        r.Type === 'AWS::IAM::Policy' && policyId.startsWith('ShopTaskDefinitionTaskRoleDefaultPolicy'),
    );
    expect(policies).toHaveLength(1);
    const shopStatements = policies[0]![1].Properties.PolicyDocument.Statement as Statement[];
    const put = shopStatements.filter((s) => actionsOf(s).includes('events:PutEvents'));
    expect(put).toHaveLength(1);
    // Every producer's source, not shop.* and not shop.shop.
    expect([put[0]!.Condition!.StringEquals['events:source']].flat().sort()).toEqual(
      SERVICE_IDS.map((id) => `shop.${id}`).sort(),
    );
    const receives = shopStatements
      .filter((s) => actionsOf(s).includes('sqs:ReceiveMessage'))
      .flatMap((s) => [s.Resource].flat())
      .map((resource) => JSON.stringify(resource));
    expect(receives).toHaveLength(1);
    expect(receives[0]).toContain('InvalidationQueue');
    expect(shopStatements.filter((s) => actionsOf(s).includes('sqs:SendMessage'))).toEqual([]);
  });

  test('products: the load balancer targets port 3000; Service Connect publishes http://products on the internal port 3001 only', () => {
    expect(environment('products').SERVICE).toBe('products');
    expect(environment('products').INTERNAL_PORT).toBe(String(SERVICE_DEFAULTS.internalPort));
    expect(SERVICE_DEFAULTS.internalPort).toBe(3001);
    expect(appContainer('products').PortMappings).toEqual([
      { ContainerPort: SERVICE_DEFAULTS.containerPort, Name: 'http', Protocol: 'tcp' },
      { ContainerPort: 3001, Name: 'products', AppProtocol: 'http', Protocol: 'tcp' },
    ]);
    const [, svc] = ecsService('products');
    expect(svc.Properties.ServiceConnectConfiguration).toMatchObject({
      Enabled: true,
      Namespace: {
        'Fn::GetAtt': [expect.stringMatching(/^ShopClusterDefaultServiceDiscoveryNamespace/), 'Arn'],
      },
      Services: [
        {
          PortName: 'products',
          ClientAliases: [{ DnsName: 'products', Port: 80 }],
          Timeout: {
            IdleTimeoutSeconds: SERVICE_CONNECT_DEFAULTS.idleTimeout.toSeconds(),
            PerRequestTimeoutSeconds: SERVICE_CONNECT_DEFAULTS.perRequestTimeout.toSeconds(),
          },
        },
      ],
      LogConfiguration: {
        LogDriver: 'awslogs',
        Options: expect.objectContaining({ 'awslogs-stream-prefix': 'service-connect' }),
      },
    });
    // The load balancer's traffic goes to 3000, past the proxy.
    expect(svc.Properties.LoadBalancers).toEqual([
      expect.objectContaining({ ContainerName: 'App', ContainerPort: SERVICE_DEFAULTS.containerPort }),
    ]);
    const [, targetGroup] = byPrefix('AWS::ElasticLoadBalancingV2::TargetGroup', 'ShopProductsTargetGroup');
    expect(targetGroup.Properties.Port).toBe(SERVICE_DEFAULTS.containerPort);
    // Below the app's keep-alive (65 s): the proxy never reuses a connection the app has closed.
    expect(SERVICE_CONNECT_DEFAULTS.idleTimeout.toSeconds()).toBeLessThan(65);
  });

  test("Service Connect's per-request timeout lets orders give up on a products call first, within the gateway's 29 s", () => {
    // The app's own timeout for one products attempt (its default: the environment does not set it).
    expect(environment('orders').PRODUCTS_TIMEOUT_MS).toBeUndefined();
    const perRequestMs = SERVICE_CONNECT_DEFAULTS.perRequestTimeout.toMilliseconds();
    expect(serviceEnvJsonSchema.PRODUCTS_TIMEOUT_MS.default).toBeLessThan(perRequestMs);
    expect(perRequestMs).toBeLessThan(29_000);
  });

  test.each(['users', 'orders'])(
    '%s: a Service Connect client only (nothing calls it): no internal port, nothing published',
    (id) => {
      expect(environment(id).SERVICE).toBe(id);
      expect(environment(id).INTERNAL_PORT).toBeUndefined();
      expect(appContainer(id).PortMappings).toEqual([
        { ContainerPort: SERVICE_DEFAULTS.containerPort, Name: 'http', Protocol: 'tcp' },
      ]);
      const [, svc] = ecsService(id);
      expect(svc.Properties.ServiceConnectConfiguration.Enabled).toBe(true);
      expect(svc.Properties.ServiceConnectConfiguration.Services).toBeUndefined();
    },
  );

  test('orders calls products at http://products, and products is deployed first', () => {
    expect(environment('orders').PRODUCTS_URL).toBe('http://products');
    expect(environment('users').PRODUCTS_URL).toBeUndefined();
    const [productsId] = ecsService('products');
    expect(ecsService('orders')[1].DependsOn).toContain(productsId);
    expect(ecsService('products')[1].DependsOn ?? []).not.toContain(ecsService('orders')[0]);
    // The products tasks admit the orders tasks on the internal port only, never the load balancer's port.
    const [productsGroupId] = byPrefix('AWS::EC2::SecurityGroup', 'ShopProductsSecurityGroup');
    const [ordersGroupId] = byPrefix('AWS::EC2::SecurityGroup', 'ShopOrdersSecurityGroup');
    const ingress = Object.values(all).filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress');
    expect(
      ingress.filter(
        (r) =>
          JSON.stringify(r.Properties.GroupId).includes(productsGroupId) &&
          JSON.stringify(r.Properties.SourceSecurityGroupId).includes(ordersGroupId),
      ),
    ).toEqual([
      expect.objectContaining({ Properties: expect.objectContaining({ FromPort: 3001, ToPort: 3001 }) }),
    ]);
    // Users calls nobody, so nobody admits it but the data tier.
    const [usersGroupId] = byPrefix('AWS::EC2::SecurityGroup', 'ShopUsersSecurityGroup');
    expect(
      ingress.filter(
        (r) =>
          JSON.stringify(r.Properties.SourceSecurityGroupId).includes(usersGroupId) &&
          JSON.stringify(r.Properties.GroupId).includes('SecurityGroup') &&
          !JSON.stringify(r.Properties.GroupId).includes('GetStackOutput'),
      ),
    ).toEqual([]);
  });

  test.each(SERVICE_IDS)(
    '%s: routed by the internal load balancer of the gateway, not the public one',
    (id) => {
      const rule = Object.entries(all).find(
        ([ruleId, r]) =>
          r.Type === 'AWS::ElasticLoadBalancingV2::ListenerRule' && ruleId.includes(`${pascal(id)}Rule`),
      )![1];
      expect(JSON.stringify(rule.Properties.ListenerArn)).toContain('GatewayLoadBalancer');
      expect(rule.Properties.Conditions[0].PathPatternConfig.Values).toEqual(
        stage1m.services[id].route.pathPatterns,
      );
      // The client's address comes from the header the gateway overwrites.
      expect(environment(id).CLIENT_IP_HEADER).toBe('x-client-ip');
    },
  );

  test('products is the internal listener default; the public listener still forwards everything to the monolith', () => {
    const listeners = Object.entries(all).filter(
      ([, r]) => r.Type === 'AWS::ElasticLoadBalancingV2::Listener',
    );
    const internal = listeners.find(([listenerId]) => listenerId.startsWith('Gateway'))![1];
    const [productsTg] = byPrefix('AWS::ElasticLoadBalancingV2::TargetGroup', 'ShopProductsTargetGroup');
    expect(internal.Properties.DefaultActions).toEqual([
      { Type: 'forward', TargetGroupArn: { Ref: productsTg } },
    ]);
    const publicListener = listeners.find(([listenerId]) => listenerId.startsWith('ShopLoadBalancer'))![1];
    expect(JSON.stringify(publicListener.Properties.DefaultActions)).toMatch(/ShopTargetGroup/);
    const publicRules = Object.values(all).filter(
      (r) =>
        r.Type === 'AWS::ElasticLoadBalancingV2::ListenerRule' &&
        JSON.stringify(r.Properties.ListenerArn).includes('ShopLoadBalancer'),
    );
    // Only the /metrics block: the services are not on the public load balancer during 1m.
    expect(publicRules).toHaveLength(1);
  });

  test('users and orders read every shard; products only shard 0 (the catalog)', () => {
    const secretReads = (id: string) =>
      statements(id)
        .filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'))
        .map((s) => JSON.stringify(s.Resource));
    for (const id of ['users', 'orders']) {
      const reads = secretReads(id).join(' ');
      expect(reads).toMatch(/shop-data/);
      expect(reads).toMatch(/shop-shard-s1/);
      expect(JSON.stringify(environment(id).SHARD_ENDPOINTS)).toContain('shop-shard-s1');
    }
    const products = secretReads('products').join(' ');
    expect(products).toMatch(/shop-data/);
    expect(products).not.toMatch(/shop-shard-s1/);
    expect(environment('products').SHARD_ENDPOINTS).toBeUndefined();
    // Nor is it admitted to shard s1's security group.
    const [productsGroupId] = byPrefix('AWS::EC2::SecurityGroup', 'ShopProductsSecurityGroup');
    const admissions = Object.entries(all).filter(
      ([ruleId, r]) =>
        r.Type === 'AWS::EC2::SecurityGroupIngress' &&
        JSON.stringify(r.Properties.SourceSecurityGroupId).includes(productsGroupId) &&
        ruleId.startsWith('ShopProducts'),
    );
    expect(admissions.map(([ruleId]) => ruleId).join(' ')).not.toMatch(/ShardS1/);
    expect(admissions.map(([ruleId]) => ruleId).join(' ')).toMatch(/Shard0/);
  });

  test.each(SERVICE_IDS)('%s: PutEvents on the bus with its own source only; its own queue only', (id) => {
    const put = statements(id).filter((s) => actionsOf(s).includes('events:PutEvents'));
    expect(put).toHaveLength(1);
    expect(put[0]!.Condition).toEqual({ StringEquals: { 'events:source': `shop.${id}` } });
    expect(JSON.stringify(put[0]!.Resource)).toContain('shop-data');
    const env = environment(id);
    expect(env.EVENT_BUS).toBe('eventbridge');
    expect(env.EVENT_BUS_NAME).toBeDefined();
    // Statements with the same actions are merged: count the queues they name.
    const receives = statements(id)
      .filter((s) => actionsOf(s).includes('sqs:ReceiveMessage'))
      .flatMap((s) => [s.Resource].flat())
      .map((resource) => JSON.stringify(resource));
    expect(receives.filter((queue) => queue.includes('InvalidationQueue'))).toHaveLength(1);
    if (EVENT_ROUTES[id] !== undefined) {
      expect(env.EVENT_QUEUE_URL).toBeDefined();
      expect(env.EVENT_MAX_RECEIVES).toBe('5');
      // Its event queue and the invalidation queue, no other consumer's.
      expect(receives).toHaveLength(2);
      expect(receives.filter((queue) => queue.includes(`Events${pascal(id)}Queue`))).toHaveLength(1);
    } else {
      expect(env.EVENT_QUEUE_URL).toBeUndefined();
      expect(receives).toHaveLength(1);
    }
    // Invalidations are published as events: no service sends to the invalidation queue itself.
    expect(statements(id).filter((s) => actionsOf(s).includes('sqs:SendMessage'))).toEqual([]);
    expect(JSON.stringify(statements(id))).not.toMatch(/"sqs:\*"|"events:\*"/);
  });

  test.each(SERVICE_IDS)('%s: autoscaling, and its own alarms', (id) => {
    const targets = Object.entries(all).filter(
      ([targetId, r]) =>
        r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget' && targetId.startsWith(`Shop${pascal(id)}`),
    );
    expect(targets).toHaveLength(1);
    expect(targets[0]![1].Properties).toMatchObject({ MinCapacity: 2, MaxCapacity: 20 });
    const alarms = Object.values(all)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => String(r.Properties.AlarmName));
    expect(
      alarms.filter((name) => name.startsWith(`shop-${pascal(id)}Service-`)).length,
    ).toBeGreaterThanOrEqual(4);
  });

  test('the bus, one rule per consumer and its queues are in the data stack', () => {
    const data = resourcesOf(stage.json.data) as Record<string, Resource>;
    const rules = Object.values(data).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(rules.map((r) => r.Properties.EventPattern['detail-type']).sort()).toEqual(
      [...Object.values(EVENT_ROUTES).map((types) => [...types]), ['CacheTagsInvalidated']].sort(),
    );
    const queueNames = Object.values(data)
      .filter((r) => r.Type === 'AWS::SQS::Queue')
      .map((r) => r.Properties.QueueName)
      .filter((name) => name !== undefined)
      .sort();
    expect(queueNames).toEqual(
      [
        'shop-events-delivery-dlq',
        ...Object.keys(EVENT_ROUTES).flatMap((id) => [`shop-${id}-events`, `shop-${id}-events-dlq`]),
      ].sort(),
    );
  });

  test('every key statement for EventBridge is limited to this account (confused-deputy guard)', () => {
    const data = resourcesOf(stage.json.data, 'AWS::KMS::Key') as Record<string, Resource>;
    const forEvents = Object.values(data).flatMap((key) =>
      (key.Properties.KeyPolicy.Statement as Record<string, Parsed>[]).filter(
        (statement) => JSON.stringify(statement.Principal) === '{"Service":"events.amazonaws.com"}',
      ),
    );
    // The events key and the invalidation queue's key, each with the blueprint's statement and CDK's target grant.
    expect(forEvents).toHaveLength(4);
    for (const statement of forEvents) {
      expect(statement.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': expect.any(String) } });
    }
  });

  test('the gateway and the events have alarms', () => {
    const alarms = Object.values(all)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => String(r.Properties.AlarmName));
    expect(alarms.some((name) => name.startsWith('shop-Gateway-'))).toBe(true);
    expect(alarms.some((name) => name.startsWith('shop-InternalLoadBalancer-'))).toBe(true);
    expect(alarms.some((name) => name.startsWith('shop-Events-'))).toBe(true);
  });
});

describe('stage 1m with the foundation domain (hosted zone)', () => {
  const ZONE = {
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    hostedZoneName: 'example.com',
    domainName: 'shop.example.com',
  };
  const aliasRecord = (template: Record<string, unknown>) => {
    const records = Object.entries(resourcesOf(template, 'AWS::Route53::RecordSet')).filter(
      ([, r]) => (r.Properties as Record<string, Parsed>).Type === 'A',
    );
    expect(records).toHaveLength(1);
    return records[0]! as [string, Resource];
  };

  test('the gateway serves the domain with the platform certificate; frontDoor=alb keeps the record on the load balancer', () => {
    const stage = synthStage('1m', { nag: false, context: { ...ZONE, frontDoor: 'alb' } });
    const domain = Object.entries(resourcesOf(stage.json.service, 'AWS::ApiGatewayV2::DomainName'));
    expect(domain).toHaveLength(1);
    expect(JSON.stringify(domain[0]![1].Properties)).toMatch(/ShopCertificate/);
    const [, record] = aliasRecord(stage.json.service);
    expect(JSON.stringify(record.Properties.AliasTarget)).toMatch(/ShopLoadBalancer/);
    expect(JSON.stringify(stage.json.service)).toMatch(/"ServerNameToVerify":"shop.example.com"/);
  });

  test('-c frontDoor=gateway points the same record (same logical id) at the gateway domain: the cut-over', () => {
    const before = aliasRecord(
      synthStage('1m', { nag: false, context: { ...ZONE, frontDoor: 'alb' } }).json.service,
    );
    const after = aliasRecord(
      synthStage('1m', { nag: false, context: { ...ZONE, frontDoor: 'gateway' } }).json.service,
    );
    expect(after[0]).toBe(before[0]);
    expect(JSON.stringify(after[1].Properties.AliasTarget)).toMatch(/GatewayDomainName.*RegionalDomainName/);
    expect(after[1].Properties.Name).toEqual(before[1].Properties.Name);
  });

  test('fails when the record is managed and frontDoor is not set: a later deploy must not repoint it silently', () => {
    const synth = () => synthStage('1m', { nag: false, context: ZONE });
    expect(synth).toThrow(StageConfigError);
    expect(synth).toThrow(/context\.frontDoor: received nothing/);
    expect(synth).toThrow(/-c frontDoor=alb.*-c frontDoor=gateway.*cdk\.json/s);
    // Nothing to protect without a gateway, or without a record the blueprint writes.
    expect(() => synthStage('100k', { nag: false, context: ZONE })).not.toThrow();
    expect(() =>
      synthStage('1m', {
        nag: false,
        context: {
          domainName: 'shop.example.com',
          certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
        },
      }),
    ).not.toThrow();
  });

  test('fails when frontDoor is not a known value, or the stage has no gateway', () => {
    expect(() => synthStage('1m', { nag: false, context: { ...ZONE, frontDoor: 'apigw' } })).toThrow(
      /frontDoor: received "apigw"/,
    );
    expect(() => synthStage('100k', { nag: false, context: { ...ZONE, frontDoor: 'gateway' } })).toThrow(
      /context\.frontDoor/,
    );
  });
});

describe('stage 1m validation', () => {
  const keysOf = (config: unknown) =>
    validateStageConfig(config as StageConfig)
      .map((problem) => problem.key)
      .sort();

  test('fails when the gateway default service is not one of the services', () => {
    expect(keysOf({ ...stage1m, gateway: { defaultService: 'shop' } })).toEqual(['gateway.defaultService']);
  });

  test('fails when events come without the invalidation queue, or a consumer is missing', () => {
    const { invalidationQueue: _queue, ...withoutQueue } = stage1m;
    expect(keysOf(withoutQueue)).toEqual(['events']);
    const { users: _users, ...services } = stage1m.services;
    expect(keysOf({ ...stage1m, services, gateway: { defaultService: 'products' } })).toEqual(['events']);
  });

  test('fails when calls name an unknown service or form a cycle', () => {
    const services = {
      ...stage1m.services,
      products: { ...stage1m.services.products, calls: ['orders'] },
      users: { ...stage1m.services.users, calls: ['billing'] },
    };
    expect(keysOf({ ...stage1m, services })).toEqual([
      'services.orders.calls',
      'services.products.calls',
      'services.users.calls',
    ]);
  });

  test('fails when shardAccess is neither catalog nor all', () => {
    const services = { ...stage1m.services, products: { ...stage1m.services.products, shardAccess: 'some' } };
    expect(keysOf({ ...stage1m, services })).toEqual(['services.products.shardAccess']);
  });

  test('fails when events keep messages longer than SQS allows', () => {
    expect(keysOf({ ...stage1m, events: { retentionPeriod: Duration.days(15) } })).toEqual([
      'events.retentionPeriod',
    ]);
    expect(() => {
      throw new StageConfigError(validateStageConfig({ ...stage1m, events: { maxReceiveCount: 0 } }));
    }).toThrow(/events\.maxReceiveCount: received 0/);
  });
});
