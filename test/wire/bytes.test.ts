import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  constantTimeEqual,
  equalBytes,
  fromBase64,
  fromHex,
  hexInto,
  joinBytes,
  toBase64,
  toBase64Url,
  toHex,
  toHex64,
} from '../../host/wire/bytes.ts';
import {
  ID64_PATTERN,
  REQUEST_ID_PATTERN,
  isNodeId,
  isRequestId,
  isTxId,
  requestIdBytes,
  requestIdOf,
  txIdBytes,
  txIdOf,
} from '../../host/wire/ids.ts';

const bytesOf = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => i * 37);

describe('wire/bytes', () => {
  it('base64 matches Node for every tail length, and refuses other spellings', () => {
    // Short inputs and long ones are encoded two ways (toBase64): both sides of the switch.
    const around = (n: number) => Array.from({ length: 8 }, (_, i) => n - 4 + i);
    for (const length of [...around(4), ...around(8), ...around(97), 1 << 16]) {
      const bytes = bytesOf(length);
      const text = Buffer.from(bytes).toString('base64');
      expect(toBase64(bytes)).toBe(text);
      expect(fromBase64(text)).toEqual(bytes);
      expect(toBase64Url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
    }
    for (const bad of ['QQ', 'QR==', 'QQ==\n', 'Q-8=', '====', 'QUI=QUI='])
      expect(fromBase64(bad), bad).toBeUndefined();
  });

  it('base64 round-trips any bytes as Node writes them, and reads exactly the canonical texts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64');
        expect(toBase64(bytes)).toBe(text);
        expect(fromBase64(text)).toEqual(bytes);
      }),
      { numRuns: 1000 },
    );
    // Near-misses too: characters outside the alphabet, '=' anywhere, non-zero dropped bits.
    const unit = fc.constantFrom(...'AQgw/+=9zZ-_ \n\u00e9');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 16 }), (text) => {
        const canonical = Buffer.from(text, 'base64').toString('base64') === text;
        const decoded = fromBase64(text);
        expect(decoded !== undefined, text).toBe(canonical);
        if (decoded) expect(decoded).toEqual(new Uint8Array(Buffer.from(text, 'base64')));
      }),
      { numRuns: 5000 },
    );
  });

  it("long base64 (Node's native path) reads exactly the canonical texts, into plain arrays of their own", () => {
    // From 16 KiB both ways go to Buffer, whose decoder takes anything: the checks before it
    // must keep the same language as the loop. A valid long text with a near-miss spliced in.
    const long = Buffer.from(bytesOf(3 * 8192 + 1)).toString('base64'); // ends in '=='
    expect(long.length).toBeGreaterThanOrEqual(16 * 1024);
    const decodedLong = fromBase64(long)!;
    expect(decodedLong).toEqual(bytesOf(3 * 8192 + 1));
    expect(decodedLong.constructor).toBe(Uint8Array);
    expect(decodedLong.byteOffset).toBe(0);
    expect(decodedLong.buffer.byteLength).toBe(decodedLong.length);
    expect(toBase64(bytesOf(3 * 8192 + 1))).toBe(long);
    // A last quartet whose padding drops non-zero bits, a '=' inside, a character outside.
    for (const tail of ['QR==', 'QUJ=', 'Q=J=', 'QU\nJ'])
      expect(fromBase64(long.slice(0, -4) + tail), tail).toBeUndefined();
    expect(fromBase64(long.slice(0, -4) + 'QUI=')).toEqual(
      new Uint8Array(Buffer.from(long.slice(0, -4) + 'QUI=', 'base64')),
    );
    const unit = fc.constantFrom(...'AQgw/+=9zZ-_ \n\u00e9');
    fc.assert(
      fc.property(
        fc.string({ unit, minLength: 0, maxLength: 6 }),
        fc.nat({ max: long.length }),
        fc.nat({ max: 6 }),
        (patch, at, cut) => {
          const text = long.slice(0, at) + patch + long.slice(Math.min(long.length, at + cut));
          const canonical = Buffer.from(text, 'base64').toString('base64') === text;
          const decoded = fromBase64(text);
          expect(decoded !== undefined, `${at} ${JSON.stringify(patch)} ${cut}`).toBe(canonical);
          if (decoded) expect(decoded).toEqual(new Uint8Array(Buffer.from(text, 'base64')));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hex is lowercase both ways; anything else is refused', () => {
    expect(toHex(Uint8Array.of(0, 0xab, 0xff))).toBe('00abff');
    expect(fromHex('00abff')).toEqual(Uint8Array.of(0, 0xab, 0xff));
    for (const bad of ['00ABFF', '0', 'zz', ' 00']) expect(fromHex(bad), bad).toBeUndefined();
    expect(toHex64(0xabn)).toBe('00000000000000ab');
  });

  it('joins lists longer than a spread allows; compares', () => {
    const chunks = Array.from({ length: 200_000 }, () => Uint8Array.of(1));
    expect(joinBytes(chunks).length).toBe(200_000);
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1), Uint8Array.of(1, 2))).toBe(false);
  });
});

describe('wire/ids', () => {
  it('one pattern each: node and transaction ids 16 hex digits, request ids 32', () => {
    expect(isNodeId('00000000000000a1')).toBe(true);
    expect(isNodeId('00000000000000A1')).toBe(false);
    expect(isTxId('0123456789abcdef')).toBe(true);
    expect(isRequestId('0123456789abcdef')).toBe(false);
    expect(isRequestId('0123456789abcdef'.repeat(2))).toBe(true);
    expect(isNodeId(7)).toBe(false);
  });

  it('the id checks (loops, for speed) accept exactly what the documented patterns match', () => {
    // Near-misses dominate: hex digits of either case, the characters beside the ranges.
    const unit = fc.constantFrom(...'0123456789abcdefABCDEF/:@`g G\u0660\u00e9');
    const oneOff = (digits: number): fc.Arbitrary<string> =>
      fc
        .tuple(fc.uint8Array({ minLength: digits / 2, maxLength: digits / 2 }), fc.nat(), unit)
        .map(([bytes, at, c]) => {
          const hex = toHex(bytes);
          const i = at % digits;
          return hex.slice(0, i) + c + hex.slice(i + 1);
        });
    const near = fc.oneof(
      oneOff(16),
      oneOff(32),
      fc.string({ unit, minLength: 14, maxLength: 34 }),
      fc.string({ unit, minLength: 16, maxLength: 16 }),
      fc.string({ unit, minLength: 32, maxLength: 32 }),
      fc.string(),
    );
    fc.assert(
      fc.property(near, (text) => {
        expect(isNodeId(text)).toBe(ID64_PATTERN.test(text));
        expect(isTxId(text)).toBe(ID64_PATTERN.test(text));
        expect(isRequestId(text)).toBe(REQUEST_ID_PATTERN.test(text));
      }),
      { seed: 20261206, numRuns: 2000 },
    );
  });

  it('toHex is lowercase hex for short and long values alike; hexInto reads it back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const hex = toHex(bytes);
        expect(hex).toBe(Buffer.from(bytes).toString('hex'));
        expect(fromHex(hex)).toEqual(bytes);
        const into = new Uint8Array(bytes.length + 3);
        hexInto(into, 3, hex);
        expect(into.subarray(3)).toEqual(bytes);
      }),
      { seed: 20261206, numRuns: 500 },
    );
  });

  it('ids to bytes and back; a malformed id names its field', () => {
    const requestId = '00112233445566778899aabbccddeeff';
    expect(requestIdOf(requestIdBytes(requestId))).toBe(requestId);
    expect(txIdOf(txIdBytes('0123456789abcdef'))).toBe('0123456789abcdef');
    expect(() => requestIdBytes('abc')).toThrow('requestId: expected 32 lowercase hex digits');
    expect(() => txIdBytes('ABCDEF0123456789', 'entry 3 txid')).toThrow('entry 3 txid');
  });
});
