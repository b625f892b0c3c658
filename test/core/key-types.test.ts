// The key types appended in round 2: their numbers and sizes are on-disk format, so they are
// pinned here from a literal table (not from KEY_TYPES/KEY_BITS, which they check), and each
// has a golden object record (test/vectors/key-types.json) on both wasm builds.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODE } from '../../host/core/codes.ts';
import { KEY_BITS, KEY_TYPES } from '../../host/core/records.ts';
import { fromHex, keyedCore, toHex } from '../fixtures.ts';

/** Type byte and key-bits field of every type, as docs/FORMATS.md lists them. */
const PINNED: [string, number, number][] = [
  ['aes-128', 1, 128],
  ['aes-256', 2, 256],
  ['hmac-sha256', 3, 256],
  ['ec-p256', 4, 256],
  ['ed25519', 5, 256],
  ['rsa-2048', 6, 2048],
  ['aes-192', 7, 192],
  ['rsa-3072', 8, 3072],
  ['rsa-4096', 9, 4096],
  ['ec-p384', 10, 384],
  ['ec-p521', 11, 521],
  ['ec-secp256k1', 12, 256],
  ['x25519', 13, 256],
  ['ed448', 14, 448],
  ['cmac-aes-128', 15, 128],
  ['cmac-aes-256', 16, 256],
  ['hmac-sha384', 17, 384],
  ['hmac-sha512', 18, 512],
];

const vectors = JSON.parse(
  readFileSync(new URL('../vectors/key-types.json', import.meta.url), 'utf8'),
) as { records: { record: { name: string; keyType: string }; hex: string }[] };

/** Offset of the object body: the 8-byte header, then the name. */
const bodyAt = (name: string): number => 8 + name.length;

it('KEY_TYPES and KEY_BITS keep every number and size', () => {
  expect(KEY_TYPES.map((type, i) => [type, i + 1, KEY_BITS[type]])).toEqual(PINNED);
});

describe.each(['release', 'scalar'] as const)('round-2 key types on the %s build', (variant) => {
  it('each golden record decodes, re-encodes to the same bytes, and carries its type and bits', () => {
    const core = keyedCore(variant);
    expect(vectors.records.map((entry) => entry.record.keyType)).toEqual(
      PINNED.slice(6).map(([type]) => type),
    );
    for (const entry of vectors.records) {
      const encoded = fromHex(entry.hex);
      const decoded = core.decode(encoded);
      const shown = JSON.parse(
        JSON.stringify(decoded, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v)),
      );
      expect(shown).toEqual(entry.record);
      expect(toHex(core.encode(decoded))).toBe(entry.hex);
      const [, number, bits] = PINNED.find(([type]) => type === entry.record.keyType)!;
      const body = bodyAt(entry.record.name);
      expect(encoded[body]).toBe(number);
      expect(encoded[body + 2] | (encoded[body + 3] << 8)).toBe(bits);
    }
  });

  it('the core refuses a type whose bits do not match, and an unknown type', () => {
    const core = keyedCore(variant);
    const entry = vectors.records.find((e) => e.record.keyType === 'rsa-4096')!;
    const body = bodyAt(entry.record.name);
    const code = (mutate: (bytes: Uint8Array) => void): number | undefined => {
      const bytes = fromHex(entry.hex);
      mutate(bytes);
      try {
        core.decode(bytes);
        return undefined;
      } catch (error) {
        return (error as { code?: number }).code;
      }
    };
    expect(code(() => {})).toBeUndefined();
    expect(code((bytes) => (bytes[body] = 8))).toBe(CODE.RECORD_BAD_FIELD); // rsa-3072 with 4096 bits
    expect(code((bytes) => (bytes[body] = 19))).toBe(CODE.RECORD_BAD_FIELD); // no type 19
  });
});
