// memberlist's keyring (keyring.go) and AES-GCM payload format (security.go).
//   [version: 0|1][nonce: 12][ciphertext][tag: 16]
// Version 0 PKCS7-pads the plaintext to the AES block size first; version 1 does not. The primary
// key (index 0) encrypts; every installed key is tried to decrypt, so keys can rotate live.

import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { EncodeError } from './decode-error.ts';

export type EncryptionVersion = 0 | 1;

const VERSION_SIZE = 1;
const NONCE_SIZE = 12;
const TAG_SIZE = 16;
const BLOCK_SIZE = 16;

/** Bytes encryption adds at most: 29 for version 1, 45 for version 0 (padding up to a block). */
export function encryptOverhead(version: EncryptionVersion): number {
  return version === 0 ? VERSION_SIZE + NONCE_SIZE + BLOCK_SIZE + TAG_SIZE : VERSION_SIZE + NONCE_SIZE + TAG_SIZE;
}

/** memberlist's encryptedLength: the exact size of an encrypted payload of `n` plaintext bytes. */
export function encryptedLength(version: EncryptionVersion, n: number): number {
  const padding = version === 0 ? BLOCK_SIZE - (n % BLOCK_SIZE) : 0;
  return VERSION_SIZE + NONCE_SIZE + n + padding + TAG_SIZE;
}

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/**
 * A key as raw bytes or as a KeyObject. A KeyObject made once is what the Keyring passes: Node
 * re-imports raw bytes on every createCipheriv (30 us a packet here, 12 us with a KeyObject).
 */
export type CipherKey = Uint8Array | KeyObject;

function keyLength(key: CipherKey): number {
  return key instanceof Uint8Array ? key.length : (key.symmetricKeySize ?? 0);
}

function checkKey(key: CipherKey): void {
  const n = keyLength(key);
  if (n !== 16 && n !== 24 && n !== 32) {
    throw new KeyringError(`key must be 16, 24 or 32 bytes (AES-128/192/256), got ${n}`);
  }
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function cipherName(key: CipherKey): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  const n = keyLength(key);
  return n === 16 ? 'aes-128-gcm' : n === 24 ? 'aes-192-gcm' : 'aes-256-gcm';
}

/** Encrypts with one key. `nonce` is for tests and simulations; real use leaves it random. */
export function encryptPayload(
  version: EncryptionVersion,
  key: CipherKey,
  plaintext: Uint8Array,
  additionalData: Uint8Array,
  nonce: Uint8Array = randomBytes(NONCE_SIZE),
): Uint8Array {
  checkKey(key);
  if (nonce.length !== NONCE_SIZE) throw new EncodeError('nonce must be 12 bytes');
  let src = plaintext;
  if (version === 0) {
    const pad = BLOCK_SIZE - (plaintext.length % BLOCK_SIZE);
    src = new Uint8Array(plaintext.length + pad);
    src.set(plaintext);
    src.fill(pad, plaintext.length);
  }
  const cipher = createCipheriv(cipherName(key), key, nonce);
  if (additionalData.length > 0) cipher.setAAD(additionalData);
  const ct = cipher.update(src);
  cipher.final();
  const out = new Uint8Array(VERSION_SIZE + NONCE_SIZE + ct.length + TAG_SIZE);
  out[0] = version;
  out.set(nonce, VERSION_SIZE);
  out.set(ct, VERSION_SIZE + NONCE_SIZE);
  out.set(cipher.getAuthTag(), VERSION_SIZE + NONCE_SIZE + ct.length);
  return out;
}

/** Tries each key in turn; undefined when the version is unknown, it is too short, or no key fits. */
export function decryptPayload(
  keys: readonly CipherKey[],
  payload: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array | undefined {
  const version = payload[0];
  if (version !== 0 && version !== 1) return undefined;
  if (payload.length < encryptedLength(version, 0)) return undefined;
  const nonce = payload.subarray(VERSION_SIZE, VERSION_SIZE + NONCE_SIZE);
  const ct = payload.subarray(VERSION_SIZE + NONCE_SIZE, payload.length - TAG_SIZE);
  const tag = payload.subarray(payload.length - TAG_SIZE);
  for (const key of keys) {
    let plain: Uint8Array;
    try {
      const decipher = createDecipheriv(cipherName(key), key, nonce);
      decipher.setAuthTag(tag);
      if (additionalData.length > 0) decipher.setAAD(additionalData);
      const head = decipher.update(ct);
      decipher.final();
      plain = new Uint8Array(head.buffer, head.byteOffset, head.byteLength);
    } catch {
      continue; // wrong key: authentication failed
    }
    if (version === 1) return plain;
    // Version 0: strip PKCS7 padding. memberlist trusts the last byte; we refuse nonsense instead.
    const pad = plain[plain.length - 1];
    if (pad === undefined || pad === 0 || pad > BLOCK_SIZE || pad > plain.length) return undefined;
    return plain.subarray(0, plain.length - pad);
  }
  return undefined;
}

/**
 * The installed gossip keys, primary first. Mirrors memberlist's Keyring: AddKey, UseKey, RemoveKey
 * (never the primary), GetKeys, GetPrimaryKey.
 */
export class Keyring {
  private keys: Uint8Array[];
  /** `keys` as KeyObjects, in the same order: what encrypt and decrypt use. */
  private secrets: KeyObject[] = [];

  /** `primary` encrypts; `others` are also accepted when decrypting. */
  constructor(primary: Uint8Array, others: readonly Uint8Array[] = []) {
    checkKey(primary);
    this.keys = [primary.slice()];
    for (const k of others) this.install(k);
    this.changed();
  }

  /** All keys, primary first (copies). */
  getKeys(): Uint8Array[] {
    return this.keys.map((k) => k.slice());
  }

  getPrimaryKey(): Uint8Array {
    return this.keys[0]!.slice();
  }

  /** Adds a key for decryption; installing a key twice is a no-op. */
  install(key: Uint8Array): void {
    checkKey(key);
    if (this.keys.some((k) => sameKey(k, key))) return;
    this.keys.push(key.slice());
    this.changed();
  }

  /** Makes an installed key the primary. */
  use(key: Uint8Array): void {
    const i = this.keys.findIndex((k) => sameKey(k, key));
    if (i < 0) throw new KeyringError('the key must be installed before it can be used as primary');
    const [k] = this.keys.splice(i, 1);
    this.keys.unshift(k!);
    this.changed();
  }

  /** Removes a key; the primary cannot be removed (use another key first). */
  remove(key: Uint8Array): void {
    if (sameKey(this.keys[0]!, key)) throw new KeyringError('the primary key cannot be removed; use another key first');
    this.keys = this.keys.filter((k) => !sameKey(k, key));
    this.changed();
  }

  encrypt(
    plaintext: Uint8Array,
    additionalData: Uint8Array,
    version: EncryptionVersion = 1,
    nonce?: Uint8Array,
  ): Uint8Array {
    return encryptPayload(version, this.secrets[0]!, plaintext, additionalData, nonce);
  }

  decrypt(payload: Uint8Array, additionalData: Uint8Array): Uint8Array | undefined {
    return decryptPayload(this.secrets, payload, additionalData);
  }

  private changed(): void {
    this.secrets = this.keys.map((k) => createSecretKey(k));
  }
}
