import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startRoundRobinBalancer } from './balancer';
import { CleanupStack, runWithCleanup } from './cleanup';
import { parseOptions, scenarioSelected } from './options';
import { sessionCookie } from './topology';

describe('parseOptions', () => {
  const root = '/repo';

  it('defaults to 250 req/s for 30 s, 10,000 logged-in customers, a sweep, results in bench/results', () => {
    const options = parseOptions([], {}, root);
    expect(options).toMatchObject({
      rate: 250,
      durationSeconds: 30,
      warmupSeconds: 60,
      connections: 256,
      products: 10_000,
      users: 10_000,
      logins: 10_000,
      customerBrowseShare: 0.5,
      minThinkMs: 1000,
      sweep: true,
      sweepStart: 250,
      sweepFactor: 1.5,
      sweepSteps: 8,
      orderProbe: 100,
      appProcesses: 3,
      quick: false,
      outDir: path.join(root, 'bench', 'results'),
      redisUrl: 'redis://127.0.0.1:6379',
    });
    expect(scenarioSelected(options, 'stage-1k')).toBe(true);
  });

  it('--sweep-past-knee is off unless asked, and only on or off', () => {
    expect(parseOptions([], {}, root).sweepPastKnee).toBe(false);
    expect(parseOptions(['--sweep-past-knee=on'], {}, root).sweepPastKnee).toBe(true);
    expect(() => parseOptions(['--sweep-past-knee=yes'], {}, root)).toThrow(
      '--sweep-past-knee must be on or off',
    );
  });

  it('--quick shrinks the run and keeps its results out of bench/results', () => {
    const options = parseOptions(['--quick'], {}, root);
    expect(options).toMatchObject({
      quick: true,
      durationSeconds: 3,
      products: 1000,
      logins: 1000,
      sweep: false,
    });
    expect(parseOptions(['--quick', '--sweep=on', '--rate=50'], {}, root)).toMatchObject({
      sweep: true,
      rate: 50,
      sweepStart: 50,
    });
    expect(options.outDir).not.toContain(path.join('bench', 'results'));
  });

  it('flags win over environment variables, which win over defaults', () => {
    const env = {
      BENCH_DURATION: '7',
      BENCH_CONNECTIONS: '16',
      BENCH_RATE: '300',
      BENCH_REDIS_URL: 'redis://h:1',
    };
    expect(parseOptions(['--duration', '9', '--only=stage-1k,stage-10k'], env, root)).toMatchObject({
      durationSeconds: 9,
      connections: 16,
      rate: 300,
      redisUrl: 'redis://h:1',
      only: ['stage-1k', 'stage-10k'],
    });
    const only = parseOptions(['--only=stage-1k'], {}, root);
    expect(scenarioSelected(only, 'stage-1k')).toBe(true);
    expect(scenarioSelected(only, 'stage-10k')).toBe(false);
  });

  it('--mix sets the stage workload; unnamed operations get weight 0', () => {
    expect(parseOptions(['--mix=productPage:0.7,catalogPage:0.2,myOrders:0.1'], {}, root).mix).toEqual({
      productPage: 0.7,
      catalogPage: 0.2,
      myOrders: 0.1,
      placeOrder: 0,
      updateProduct: 0,
    });
    expect(parseOptions([], {}, root).mix.placeOrder).toBe(0.08);
    expect(() => parseOptions(['--mix=productPage:0.5,teleport:0.5'], {}, root)).toThrow(
      /--mix: unknown operation "teleport".*--mix: invalid workload mix: mix weights must sum to 1, got 0.5/,
    );
  });

  it('names every bad flag and variable at once', () => {
    expect(() =>
      parseOptions(
        ['--duration=abc', '--connections', '0', '--only=foo', '--colour=red', 'stray', '--sweep=maybe'],
        { BENCH_WARMUP: '-1' },
        root,
      ),
    ).toThrow(
      /unexpected argument "stray"; unknown flag --colour; --only: unknown scenario "foo" .*; --sweep must be on or off, got "maybe"; --duration must be a number, got "abc"; BENCH_WARMUP must be between 0 and 600, got -1; --connections must be between 1 and 10000, got 0/,
    );
    expect(() => parseOptions(['--users=10', '--logins=20'], {}, root)).toThrow(
      /--logins \(20\) cannot exceed --users \(10\)/,
    );
    expect(() => parseOptions(['--seed'], {}, root)).toThrow(/--seed needs a value/);
  });
});

describe('CleanupStack', () => {
  it('runs steps newest first, keeps going after a failure and reports it', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.defer('first', () => void order.push('first'));
    stack.defer('broken', () => {
      throw new Error('boom');
    });
    stack.defer('last', async () => void order.push('last'));

    const failures = await stack.runAll();

    expect(order).toEqual(['last', 'first']);
    expect(failures).toEqual(['broken: boom']);
    expect(stack.size).toBe(0);
  });

  it('runs a step early exactly once through the returned function', async () => {
    const stack = new CleanupStack();
    let runs = 0;
    const early = stack.defer('once', () => void runs++);
    await early();
    await early();
    await stack.runAll();
    expect(runs).toBe(1);
  });

  it('gives up on a hanging step after the timeout', async () => {
    const stack = new CleanupStack();
    stack.defer('hangs', () => new Promise<void>(() => undefined));
    await expect(stack.runAll(50)).resolves.toEqual(['hangs: timed out after 50 ms']);
  });
});

describe('runWithCleanup', () => {
  afterEach(() => jest.restoreAllMocks());

  it('runs what the work left on the stack when it throws, prints the failed steps and rethrows', async () => {
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const order: string[] = [];
    const sigintListeners = process.listenerCount('SIGINT');

    await expect(
      runWithCleanup(async (cleanup) => {
        cleanup.defer('kept', () => void order.push('kept'));
        const early = cleanup.defer('early', () => void order.push('early'));
        cleanup.defer('broken', () => {
          throw new Error('boom');
        });
        await early();
        expect(process.listenerCount('SIGINT')).toBe(sigintListeners + 1);
        throw new Error('the work failed');
      }),
    ).rejects.toThrow('the work failed');

    expect(order).toEqual(['early', 'kept']);
    expect(printed).toHaveBeenCalledWith('clean-up failures: broken: boom');
    expect(process.listenerCount('SIGINT')).toBe(sigintListeners);
  });

  it('prints nothing when every step succeeds', async () => {
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    let ran = false;
    await runWithCleanup(async (cleanup) => void cleanup.defer('fine', () => void (ran = true)));
    expect(ran).toBe(true);
    expect(printed).not.toHaveBeenCalled();
  });
});

describe('startRoundRobinBalancer', () => {
  const backends: http.Server[] = [];

  afterAll(async () => {
    await Promise.all(backends.map((b) => new Promise((resolve) => b.close(resolve))));
  });

  async function backend(name: string): Promise<string> {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        res.writeHead(req.url === '/missing' ? 404 : 200, {
          'content-type': 'application/json',
          'set-cookie': 'sid=x',
        });
        res.end(
          JSON.stringify({
            name,
            method: req.method,
            url: req.url,
            body,
            xff: req.headers['x-forwarded-for'],
            proto: req.headers['x-forwarded-proto'],
          }),
        );
      });
    });
    backends.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('spreads requests round-robin and forwards method, path, body and headers both ways', async () => {
    // GIVEN
    const urls = [await backend('a'), await backend('b'), await backend('c')];
    const balancer = await startRoundRobinBalancer({ backends: urls });
    try {
      // WHEN
      const answers = [];
      for (let i = 0; i < 6; i++) {
        const response = await fetch(`${balancer.url}/api/x?i=${i}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
          body: JSON.stringify({ i }),
        });
        answers.push({
          status: response.status,
          cookie: response.headers.get('set-cookie'),
          json: await response.json(),
        });
      }
      const missing = await fetch(`${balancer.url}/missing`);

      // THEN
      expect(answers.map((a) => a.json.name)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
      expect(answers[4]).toEqual({
        status: 200,
        cookie: 'sid=x',
        json: {
          name: 'b',
          method: 'POST',
          url: '/api/x?i=4',
          body: '{"i":4}',
          xff: '127.0.0.1',
          proto: 'https',
        },
      });
      expect(missing.status).toBe(404);
    } finally {
      await balancer.close();
    }
  });

  it('answers 502 naming the backend when it is down', async () => {
    const balancer = await startRoundRobinBalancer({ backends: ['http://127.0.0.1:1'] });
    try {
      const response = await fetch(`${balancer.url}/`);
      expect(response.status).toBe(502);
      expect((await response.json()).message).toMatch(/backend 127.0.0.1:1: connect ECONNREFUSED/);
    } finally {
      await balancer.close();
    }
  });

  it('refuses an empty backend list', async () => {
    await expect(startRoundRobinBalancer({ backends: [] })).rejects.toThrow(/backends must not be empty/);
  });
});

describe('sessionCookie', () => {
  it('takes the sid cookie out of Set-Cookie headers, or says there is none', () => {
    expect(sessionCookie(['a=1; Path=/', 'sid=abc.def; Path=/; HttpOnly; Secure'], 'log-in')).toBe(
      'sid=abc.def',
    );
    expect(() => sessionCookie([], 'log-in of u@x')).toThrow(
      /log-in of u@x: no "sid" cookie in the response \(Set-Cookie: none\)/,
    );
  });
});
