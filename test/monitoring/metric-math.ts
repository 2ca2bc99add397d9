/**
 * An evaluator of the CloudWatch metric-math subset the alarms use, for one period: numbers, metric ids,
 * `+ - * /`, comparisons (`> >= < <= == !=`, 1 or 0), `IF(condition, then[, else])` and `FILL(metric, value)`.
 *
 * A metric without a data point in the period is `undefined`, and so is anything computed from it, except
 * through `FILL` (CloudWatch's semantics: an expression has no point where its inputs have none). An `IF`
 * without an else drops the point where the condition is false.
 */
export function evaluateMetricMath(
  expression: string,
  metrics: Readonly<Record<string, number | undefined>>,
): number | undefined {
  const tokens = expression.match(/\s*(>=|<=|==|!=|[-+*/(),<>]|\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*)/g);
  if (tokens === null || tokens.join('').replace(/\s/g, '') !== expression.replace(/\s/g, '')) {
    throw new Error(`Unsupported metric math: ${expression}`);
  }
  const queue = tokens.map((token) => token.trim());
  let position = 0;
  const peek = () => queue[position];
  const take = (expected?: string) => {
    const token = queue[position++];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new Error(`Expected ${expected ?? 'a token'} at ${position} in ${expression}, found ${token}`);
    }
    return token;
  };
  type Value = number | undefined;
  const lift = (a: Value, b: Value, f: (x: number, y: number) => number): Value =>
    a === undefined || b === undefined ? undefined : f(a, b);

  const primary = (): Value => {
    const token = take();
    if (token === '(') {
      const value = comparison();
      take(')');
      return value;
    }
    if (token === '-') return lift(0, primary(), (x, y) => x - y);
    if (/^\d/.test(token)) return Number(token);
    if (peek() === '(') {
      take('(');
      const args: Value[] = [comparison()];
      while (peek() === ',') {
        take(',');
        args.push(comparison());
      }
      take(')');
      if (token === 'FILL') return args[0] ?? args[1];
      if (token === 'IF') {
        const [condition, then, otherwise] = args;
        if (condition === undefined) return undefined;
        return condition !== 0 ? then : args.length > 2 ? otherwise : undefined;
      }
      throw new Error(`Unsupported function ${token} in ${expression}`);
    }
    if (!(token in metrics)) throw new Error(`Unknown metric id ${token} in ${expression}`);
    return metrics[token];
  };
  const product = (): Value => {
    let value = primary();
    while (peek() === '*' || peek() === '/') {
      const op = take();
      const right = primary();
      value = lift(value, right, (x, y) => (op === '*' ? x * y : x / y));
    }
    return value;
  };
  const sum = (): Value => {
    let value = product();
    while (peek() === '+' || peek() === '-') {
      const op = take();
      const right = product();
      value = lift(value, right, (x, y) => (op === '+' ? x + y : x - y));
    }
    return value;
  };
  const comparison = (): Value => {
    const left = sum();
    const op = peek();
    if (op === undefined || !['>', '>=', '<', '<=', '==', '!='].includes(op)) return left;
    take();
    const right = sum();
    return lift(left, right, (x, y) => {
      const result = { '>': x > y, '>=': x >= y, '<': x < y, '<=': x <= y, '==': x === y, '!=': x !== y }[op];
      return result ? 1 : 0;
    });
  };
  const value = comparison();
  if (position !== queue.length) throw new Error(`Trailing tokens in ${expression}`);
  return value;
}
