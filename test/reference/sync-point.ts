// An independent, slow (BigInt) implementation of the Sync-Point and the checksum written
// from docs/SYNC_POINT.md alone. The golden-vector tests check the core against it, which
// is what proves the page is enough to reimplement the SP.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;

const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & MASK64;

export function le64(bytes: Uint8Array, at: number): bigint {
  let x = 0n;
  for (let i = 7; i >= 0; i--) x = (x << 8n) | BigInt(bytes[at + i] ?? 0);
  return x;
}

export function le64Bytes(...words: bigint[]): Uint8Array {
  const out = new Uint8Array(words.length * 8);
  words.forEach((word, w) => {
    for (let i = 0; i < 8; i++) out[w * 8 + i] = Number((word >> BigInt(8 * i)) & 0xffn);
  });
  return out;
}

/** SipHash-c-d; returns [first, second] (second = 0n unless wide). */
export function sipHash(
  k0: bigint,
  k1: bigint,
  message: Uint8Array,
  c: number,
  d: number,
  wide: boolean,
): [bigint, bigint] {
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  if (wide) v1 ^= 0xeen;
  const round = (): void => {
    v0 = (v0 + v1) & MASK64;
    v1 = rotl(v1, 13n);
    v1 ^= v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK64;
    v3 = rotl(v3, 16n);
    v3 ^= v2;
    v0 = (v0 + v3) & MASK64;
    v3 = rotl(v3, 21n);
    v3 ^= v0;
    v2 = (v2 + v1) & MASK64;
    v1 = rotl(v1, 17n);
    v1 ^= v2;
    v2 = rotl(v2, 32n);
  };
  const full = message.length - (message.length % 8);
  const compress = (m: bigint): void => {
    v3 ^= m;
    for (let i = 0; i < c; i++) round();
    v0 ^= m;
  };
  for (let at = 0; at < full; at += 8) compress(le64(message, at));
  let last = BigInt(message.length & 0xff) << 56n;
  for (let i = 0; i < message.length - full; i++)
    last |= BigInt(message[full + i]) << BigInt(8 * i);
  compress(last);
  v2 ^= wide ? 0xeen : 0xffn;
  for (let i = 0; i < d; i++) round();
  const first = v0 ^ v1 ^ v2 ^ v3;
  if (!wide) return [first, 0n];
  v1 ^= 0xddn;
  for (let i = 0; i < d; i++) round();
  return [first, v0 ^ v1 ^ v2 ^ v3];
}

export const RECORD_SIZE_MAX = 8192;
const NH_KEY_WORDS = RECORD_SIZE_MAX / 4 + 8;

/** NH key: 64-bit word i = SipHash-1-3-64(k, LE64(i)), split into two little-endian 32-bit words. */
export function nhKey(k0: bigint, k1: bigint): bigint[] {
  const words: bigint[] = [];
  for (let i = 0; i < NH_KEY_WORDS / 2; i++) {
    const w = sipHash(k0, k1, le64Bytes(BigInt(i)), 1, 3, false)[0];
    words.push(w & MASK32, w >> 32n);
  }
  return words;
}

export function nh(data: Uint8Array, key: bigint[]): [bigint, bigint] {
  const padded = new Uint8Array(Math.ceil(data.length / 16) * 16);
  padded.set(data);
  const word = (i: number): bigint =>
    BigInt(padded[4 * i] | (padded[4 * i + 1] << 8) | (padded[4 * i + 2] << 16)) +
    (BigInt(padded[4 * i + 3]) << 24n);
  const sums: [bigint, bigint] = [0n, 0n];
  for (let chunk = 0; chunk < padded.length / 16; chunk++) {
    for (const s of [0, 1]) {
      const t = [0, 1, 2, 3].map(
        (j) => (word(4 * chunk + j) + key[4 * chunk + j + 4 * s]) & MASK32,
      );
      sums[s] = (sums[s] + t[0] * t[2] + t[1] * t[3]) & MASK64;
    }
  }
  return sums;
}

export interface ReferenceKeys {
  kr: [bigint, bigint];
  kf: [bigint, bigint];
  nhKey: bigint[];
}

export function referenceKeys(svmk: Uint8Array): ReferenceKeys {
  const enc = new TextEncoder();
  const key = hkdf(sha256, svmk, enc.encode('hsmpool'), enc.encode('hsmpool/sync-point/v1'), 32);
  const kf: [bigint, bigint] = [le64(key, 16), le64(key, 24)];
  return { kr: [le64(key, 0), le64(key, 8)], kf, nhKey: nhKey(kf[0], kf[1]) };
}

export function recordValue(
  keys: ReferenceKeys,
  record: Uint8Array,
): { nh0: bigint; nh1: bigint; lo: bigint; hi: bigint } {
  const [nh0, nh1] = nh(record, keys.nhKey);
  const [lo, hi] = sipHash(
    keys.kr[0],
    keys.kr[1],
    le64Bytes(nh0, nh1, BigInt(record.length)),
    1,
    3,
    true,
  );
  return { nh0, nh1, lo, hi };
}

export function syncPoint(
  keys: ReferenceKeys,
  records: readonly Uint8Array[],
): { sp: bigint; spvv: number; accumulator: bigint } {
  let accumulator = 0n;
  for (const record of records) {
    const { lo, hi } = recordValue(keys, record);
    accumulator = (accumulator + lo + (hi << 64n)) & ((1n << 128n) - 1n);
  }
  const [f0, f1] = sipHash(
    keys.kf[0],
    keys.kf[1],
    le64Bytes(accumulator & MASK64, accumulator >> 64n, BigInt(records.length)),
    1,
    3,
    true,
  );
  return { sp: f0, spvv: Number(f1 & 0xffffn), accumulator };
}

const CHECKSUM_KEY: [bigint, bigint] = [
  le64(new TextEncoder().encode('hsmpool\0'), 0),
  le64(new TextEncoder().encode('checksum'), 0),
];
let checksumNhKey: bigint[] | undefined;

/** The log/file checksum: NH over 4096-byte blocks chained through SipHash-1-3-128. */
export function checksum(data: Uint8Array): [bigint, bigint] {
  checksumNhKey ??= nhKey(CHECKSUM_KEY[0], CHECKSUM_KEY[1]);
  let [c0, c1] = CHECKSUM_KEY;
  let index = 0n;
  let at = 0;
  do {
    const block = data.subarray(at, at + 4096);
    const [s0, s1] = nh(block, checksumNhKey);
    [c0, c1] = sipHash(c0 ^ index, c1, le64Bytes(s0, s1, BigInt(block.length)), 1, 3, true);
    at += block.length;
    index++;
  } while (at < data.length);
  return [c0, c1];
}
