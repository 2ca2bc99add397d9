/**
 * Finds values in a CloudFormation template that look like credentials written in plain text.
 */

/** A suspicious value: where it is and why. */
export interface SecretFinding {
  readonly path: string;
  readonly reason: string;
}

const SECRET_KEY = /(password|passwd|secret|token|credential|private.?key|api.?key)/i;
/** Keys that name a secret without holding one (ARNs, references, generation settings, descriptions). */
const HARMLESS_KEY =
  /(arn|id|name|description|generatesecretstring|secretstringtemplate|generatestringkey|excludecharacters|rotation|valuefrom|kms|length|type|rules)$/i;
const DYNAMIC_REFERENCE = /^\{\{resolve:(secretsmanager|ssm-secure):/;

function isIntrinsic(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).length === 1 &&
    /^(Ref|Fn::[A-Za-z]+)$/.test(Object.keys(value)[0]!)
  );
}

/** Whether a literal (or an Fn::Join of literals) is a plain-text value rather than a reference. */
function plainText(value: unknown): string | undefined {
  if (typeof value === 'string') return DYNAMIC_REFERENCE.test(value) ? undefined : value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'object' && value !== null && 'Fn::Join' in value) {
    const parts = ((value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1] ?? []) as unknown[];
    if (typeof parts[0] === 'string' && parts[0].startsWith('{{resolve:')) return undefined;
    if (parts.every((part) => typeof part === 'string')) return parts.join('');
  }
  return undefined;
}

/**
 * Scans a template: properties named like secrets must hold references (Ref, GetAtt, dynamic references),
 * and container environment variables named like secrets must not exist at all (they belong in `Secrets`).
 */
export function findPlainTextSecrets(template: unknown): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const visit = (node: unknown, path: string, key: string) => {
    if (Array.isArray(node)) {
      node.forEach((child, index) => visit(child, `${path}[${index}]`, key));
      return;
    }
    if (typeof node === 'object' && node !== null) {
      const record = node as Record<string, unknown>;
      // Container environment entries: { Name, Value }.
      if (path.endsWith(']') && /\.Environment\[\d+\]$/.test(path) && typeof record.Name === 'string') {
        // `*_ARN` names a secret without holding one, as long as the value is a reference or an ARN.
        const secretReference =
          /_ARN$/.test(record.Name) &&
          (typeof record.Value === 'string'
            ? record.Value.startsWith('arn:')
            : plainText(record.Value) === undefined);
        if (SECRET_KEY.test(record.Name) && !secretReference) {
          findings.push({
            path,
            reason: `environment variable ${record.Name} looks like a secret: use ECS secrets`,
          });
        }
        return;
      }
      if (isIntrinsic(node) && !(typeof node === 'object' && 'Fn::Join' in (node as object))) return;
      for (const [childKey, child] of Object.entries(record)) visit(child, `${path}.${childKey}`, childKey);
      return;
    }
    if (SECRET_KEY.test(key) && !HARMLESS_KEY.test(key)) {
      const text = plainText(node);
      if (text !== undefined && text.length > 0 && typeof node !== 'boolean') {
        findings.push({ path, reason: `${key} holds a literal value` });
      }
    }
  };
  visit(template, '$', '');
  // Join-built values: check the whole Fn::Join under a secret-like key.
  const visitJoins = (node: unknown, path: string, key: string) => {
    if (Array.isArray(node))
      return node.forEach((child, index) => visitJoins(child, `${path}[${index}]`, key));
    if (typeof node !== 'object' || node === null) return;
    if (
      'Fn::Join' in node &&
      SECRET_KEY.test(key) &&
      !HARMLESS_KEY.test(key) &&
      plainText(node) !== undefined
    ) {
      findings.push({ path, reason: `${key} is joined from literals` });
    }
    for (const [childKey, child] of Object.entries(node)) visitJoins(child, `${path}.${childKey}`, childKey);
  };
  visitJoins(template, '$', '');
  return findings;
}
