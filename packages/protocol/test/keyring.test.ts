import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encryptedLength, encryptOverhead, Keyring, KeyringError } from '../src/index.ts';
import { decryptPayload, encryptPayload } from '../src/memberlist/keyring.ts';
import { ascii, captured, hex, loadCapture, unhex } from './helpers.ts';

const k1 = new Uint8Array(16).fill(1);
const k2 = new Uint8Array(24).fill(2);
const k3 = new Uint8Array(32).fill(3);
const nonce = unhex('000102030405060708090a0b');

describe('AES-GCM payloads as memberlist security.go', () => {
  it('version 1: [1][nonce][ciphertext][tag], no padding, 29 bytes of overhead', () => {
    const ct = encryptPayload(1, k1, ascii('hello'), new Uint8Array(), nonce);
    expect(ct.length).toBe(5 + 29);
    expect(ct.length).toBe(encryptedLength(1, 5));
    expect(hex(ct.subarray(0, 13))).toBe(`01${hex(nonce)}`);
    expect(decryptPayload([k1], ct, new Uint8Array())).toEqual(ascii('hello'));
  });

  it('version 0: PKCS7-padded to 16 bytes (a full block when already aligned)', () => {
    for (const n of [0, 5, 16, 31]) {
      const msg = new Uint8Array(n).fill(9);
      const ct = encryptPayload(0, k3, msg, ascii('label'), nonce);
      expect(ct[0]).toBe(0);
      expect(ct.length).toBe(encryptedLength(0, n));
      expect(ct.length).toBe(1 + 12 + (Math.floor(n / 16) + 1) * 16 + 16);
      expect(decryptPayload([k3], ct, ascii('label'))).toEqual(msg);
    }
    expect(encryptOverhead(0)).toBe(45);
    expect(encryptOverhead(1)).toBe(29);
  });

  it('the additional data is authenticated', () => {
    const ct = encryptPayload(1, k1, ascii('x'), ascii('cluster-a'), nonce);
    expect(decryptPayload([k1], ct, ascii('cluster-b'))).toBeUndefined();
    expect(decryptPayload([k1], ct, ascii(''))).toBeUndefined();
  });

  it('rejects unknown versions, short payloads and tampering', () => {
    const ct = encryptPayload(1, k1, ascii('x'), new Uint8Array(), nonce);
    const bad = ct.slice();
    bad[bad.length - 1]! ^= 1;
    expect(decryptPayload([k1], bad, new Uint8Array())).toBeUndefined();
    const v2 = ct.slice();
    v2[0] = 2;
    expect(decryptPayload([k1], v2, new Uint8Array())).toBeUndefined();
    expect(decryptPayload([k1], ct.subarray(0, 28), new Uint8Array())).toBeUndefined();
    expect(
      decryptPayload([k1], encryptPayload(0, k1, ascii(''), new Uint8Array(), nonce).subarray(0, 44), new Uint8Array()),
    ).toBeUndefined();
  });

  it('decrypts what a real Serf 0.9.4 encrypted (Go crypto/cipher GCM, version 1)', () => {
    const c = loadCapture('encrypted');
    const key = new Uint8Array(Buffer.from(c.key!, 'base64'));
    const packets = captured(c, 'udp-in');
    expect(packets.length).toBeGreaterThan(5);
    for (const p of packets) {
      expect(p[0]).toBe(1);
      const plain = decryptPayload([key], p, new Uint8Array());
      expect(plain).toBeDefined();
    }
  });
});

describe('Keyring', () => {
  it('accepts only AES key sizes', () => {
    expect(() => new Keyring(new Uint8Array(15))).toThrow(KeyringError);
    expect(() => new Keyring(k1, [new Uint8Array(33)])).toThrow(KeyringError);
  });

  it('encrypts with the primary, decrypts with any installed key', () => {
    const a = new Keyring(k1, [k2]);
    const b = new Keyring(k2, [k1, k3]);
    expect(b.decrypt(a.encrypt(ascii('m'), new Uint8Array()), new Uint8Array())).toEqual(ascii('m'));
    expect(a.decrypt(b.encrypt(ascii('m'), new Uint8Array()), new Uint8Array())).toEqual(ascii('m'));
    expect(new Keyring(k3).decrypt(a.encrypt(ascii('m'), new Uint8Array()), new Uint8Array())).toBeUndefined();
  });

  it('rotates: install, use, remove; the primary cannot be removed', () => {
    const ring = new Keyring(k1);
    ring.install(k2);
    // Installed keys decrypt at once (a live `keys install`, before any use()).
    expect(ring.decrypt(new Keyring(k2).encrypt(ascii('i'), new Uint8Array()), new Uint8Array())).toEqual(ascii('i'));
    ring.install(k2);
    expect(ring.getKeys().map((k) => k.length)).toEqual([16, 24]);
    expect(() => ring.use(k3)).toThrow(KeyringError);
    ring.use(k2);
    expect(ring.getPrimaryKey()).toEqual(k2);
    // The ring encrypts with the KeyObject it made for its primary: it follows use().
    const afterUse = ring.encrypt(ascii('u'), new Uint8Array());
    expect(new Keyring(k2).decrypt(afterUse, new Uint8Array())).toEqual(ascii('u'));
    expect(new Keyring(k1).decrypt(afterUse, new Uint8Array())).toBeUndefined();
    expect(() => ring.remove(k2)).toThrow(KeyringError);
    ring.remove(k1);
    expect(ring.getKeys()).toEqual([k2]);
    const ct = ring.encrypt(ascii('z'), new Uint8Array(), 0);
    expect(ct[0]).toBe(0);
    expect(new Keyring(k2).decrypt(ct, new Uint8Array())).toEqual(ascii('z'));
    expect(new Keyring(k1).decrypt(ring.encrypt(ascii('r'), new Uint8Array()), new Uint8Array())).toBeUndefined();
    expect(ring.decrypt(new Keyring(k1).encrypt(ascii('r'), new Uint8Array()), new Uint8Array())).toBeUndefined();
  });

  it('a KeyObject key encrypts and decrypts exactly as its raw bytes do', () => {
    for (const raw of [k1, k2, k3]) {
      const secret = createSecretKey(raw);
      const ad = ascii('ad');
      const ct = encryptPayload(1, secret, ascii('same'), ad, nonce);
      expect(ct).toEqual(encryptPayload(1, raw, ascii('same'), ad, nonce));
      expect(decryptPayload([secret], ct, ad)).toEqual(ascii('same'));
    }
    expect(() => encryptPayload(1, createSecretKey(new Uint8Array(20)), ascii('x'), new Uint8Array())).toThrow(
      KeyringError,
    );
  });

  it('keeps its own copies of keys', () => {
    const key = new Uint8Array(16).fill(5);
    const ring = new Keyring(key);
    key.fill(0);
    ring.getKeys()[0]!.fill(0);
    expect(ring.getPrimaryKey()).toEqual(new Uint8Array(16).fill(5));
  });
});
