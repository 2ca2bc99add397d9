import { hashPassword, verifyPassword } from '../src/passwords';

test('scrypt hashes carry their parameters and a per-password salt; verification is exact', async () => {
  const [first, second] = [await hashPassword('correct horse'), await hashPassword('correct horse')];
  expect(first).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
  expect(first).not.toBe(second); // different salts
  expect(await verifyPassword('correct horse', first)).toBe(true);
  expect(await verifyPassword('correct horse', second)).toBe(true);
  expect(await verifyPassword('correct horsE', first)).toBe(false);
  expect(await verifyPassword('', first)).toBe(false);
});

test('malformed stored hashes never verify', async () => {
  for (const stored of [
    '',
    'plain',
    'bcrypt$1$2$3$4$5',
    'scrypt$0$8$1$c2FsdA==$aGFzaA==',
    'scrypt$16384$8$1$c2FsdA==$',
  ]) {
    expect(await verifyPassword('anything', stored)).toBe(false);
  }
});
