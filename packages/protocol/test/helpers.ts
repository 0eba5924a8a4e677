// Test helpers: hex conversion and the real Serf 0.9.4 captures under fixtures/.

import { readFileSync } from 'node:fs';

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Hex with spaces, comments or line breaks allowed, so vectors can be annotated. */
export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/#[^\n]*/g, '').replace(/[^0-9a-f]/gi, ''), 'hex'));
}

export function ascii(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export interface CaptureRecord {
  readonly kind: 'udp-in' | 'udp-out' | 'tcp-in' | 'tcp-out';
  readonly at: number;
  readonly hex: string;
}

export interface Capture {
  readonly key: string | null;
  readonly record: readonly CaptureRecord[];
}

export function loadCapture(name: 'plaintext' | 'encrypted'): Capture {
  return JSON.parse(readFileSync(new URL(`./fixtures/serf-0.9.4-${name}.json`, import.meta.url), 'utf8')) as Capture;
}

/** Distinct captured byte strings of one kind, in order of arrival. */
export function captured(c: Capture, kind: CaptureRecord['kind']): Uint8Array[] {
  return [...new Set(c.record.filter((r) => r.kind === kind).map((r) => r.hex))].map((h) => unhex(h));
}
