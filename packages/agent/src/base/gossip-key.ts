/**
 * Serf's gossip key format: canonical base64 of a 16, 24 or 32 byte AES key. One parser for every
 * place a key comes in as text: --encrypt, the keyring file, the keyring API.
 */
export function parseGossipKey(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text && [16, 24, 32].includes(bytes.length) ? bytes : undefined;
}
