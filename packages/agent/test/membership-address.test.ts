import { describe, expect, it } from 'vitest';
import { addressKey, bytesToIp, ipToBytes } from '../src/membership/address.ts';

describe('address byte conversions (memberlist carries 4- or 16-byte slices)', () => {
  it('converts IPv4 both ways', () => {
    expect([...ipToBytes('10.0.0.1')]).toEqual([10, 0, 0, 1]);
    expect([...ipToBytes('255.254.0.7')]).toEqual([255, 254, 0, 7]);
    expect(bytesToIp(Uint8Array.of(192, 168, 1, 20))).toBe('192.168.1.20');
    expect(bytesToIp(ipToBytes('127.0.0.1'))).toBe('127.0.0.1');
  });

  it('converts IPv6 both ways, compressed as RFC 5952 writes it', () => {
    const loopback = new Uint8Array(16);
    loopback[15] = 1;
    expect(ipToBytes('::1')).toEqual(loopback);
    expect(bytesToIp(loopback)).toBe('::1');
    expect(bytesToIp(new Uint8Array(16))).toBe('::');
    expect([...ipToBytes('2001:db8::ff00:42:8329')]).toEqual([
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0x00, 0x42, 0x83, 0x29,
    ]);
    for (const text of ['2001:db8::ff00:42:8329', 'fe80::1', '2001:db8::1', '1::', '2001:db8:0:1:1:1:1:1']) {
      expect(bytesToIp(ipToBytes(text))).toBe(text);
    }
    // The longest run of zero groups is the one compressed, the first one on a tie.
    expect(bytesToIp(ipToBytes('2001:db8:0:0:1:0:0:0'))).toBe('2001:db8:0:0:1::');
    expect(bytesToIp(ipToBytes('2001:0:0:1:0:0:1:1'))).toBe('2001::1:0:0:1:1');
    expect(bytesToIp(ipToBytes('2001:DB8::A'))).toBe('2001:db8::a');
  });

  it('reads v4-mapped IPv6 as IPv4, and parses it from text', () => {
    const mapped = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3);
    expect(bytesToIp(mapped)).toBe('10.1.2.3');
    expect(ipToBytes('::ffff:10.1.2.3')).toEqual(mapped);
    expect(ipToBytes('::ffff:a01:203')).toEqual(mapped);
  });

  it('rejects what is no IP address', () => {
    expect(() => ipToBytes('example.com')).toThrow(/not an IP address/);
    expect(bytesToIp(Uint8Array.of(1, 2, 3))).toBeUndefined();
    expect(bytesToIp(new Uint8Array(0))).toBeUndefined();
  });

  it('keys an address as host:port', () => {
    expect(addressKey({ host: '10.0.0.1', port: 7946 })).toBe('10.0.0.1:7946');
  });
});
