import { randomBytes } from 'node:crypto';

/** A 32-byte key in Serf's base64 format, so `serf agent -encrypt` accepts it too. */
export async function runKeygen(): Promise<number> {
  process.stdout.write(`${randomBytes(32).toString('base64')}\n`);
  return 0;
}
