import { overhead, parseRoutingOptions, summariseVariant, DEFAULT_ROUTING_OPTIONS } from './routing-report';

describe('routing benchmark options', () => {
  it('keeps the defaults and reads --name=value flags', () => {
    expect(parseRoutingOptions([])).toEqual(DEFAULT_ROUTING_OPTIONS);
    expect(parseRoutingOptions(['--rate=50', '--orders-per-user=2', '--duration=1.5'])).toMatchObject({
      rate: 50,
      ordersPerUser: 2,
      durationSeconds: 1.5,
    });
  });

  it('names the flag of a bad value or an unknown argument', () => {
    expect(() => parseRoutingOptions(['--rate=0'])).toThrow('--rate must be a positive number, got "0"');
    expect(() => parseRoutingOptions(['--users=2.5'])).toThrow('--users must be a positive whole number');
    expect(() => parseRoutingOptions(['--speed=3'])).toThrow('unknown argument "--speed=3"');
    expect(() => parseRoutingOptions(['--rounds'])).toThrow('unknown argument "--rounds"');
  });
});

describe('routing benchmark report', () => {
  const run = (p50Ms: number, p99Ms: number, requests: number, queries: number) => ({
    p50Ms,
    p99Ms,
    requests,
    failures: 0,
    queries,
  });

  it('averages the rounds and divides the queries by the answered requests', () => {
    expect(summariseVariant([run(2, 10, 100, 300), run(3, 12, 100, 300)])).toEqual({
      p50Ms: 2.5,
      p99Ms: 11,
      requests: 200,
      failures: 0,
      queriesPerRequest: 3,
    });
    expect(summariseVariant([run(1, 1, 0, 0)]).queriesPerRequest).toBeNull();
    expect(() => summariseVariant([])).toThrow('at least one run');
  });

  it('reports sharded minus unsharded against the 0.5 ms p50 target', () => {
    const a = summariseVariant([run(2, 10, 1, 3)]);
    expect(overhead(a, summariseVariant([run(2.3, 9, 1, 4)]))).toEqual({
      addedP50Ms: 0.3,
      addedP99Ms: -1,
      targetAddedP50Ms: 0.5,
      p50TargetMet: true,
    });
    expect(overhead(a, summariseVariant([run(2.5, 10, 1, 4)])).p50TargetMet).toBe(false);
  });
});
