// NH universal hashing (Black et al., UMAC) over 16-byte chunks, two Toeplitz streams.
//
// For a record of n bytes, zero-padded to a multiple of 16 and read as 32-bit little-endian
// words w[0..], with key words k[0..] (32-bit):
//   stream s in {0, 1}, chunk c, j in 0..3:  t[j] = (w[4c+j] + k[4c+j+4s]) mod 2^32
//   S_s = sum over chunks of  t[0]*t[2] + t[1]*t[3]   (64-bit products, sum mod 2^64)
// Each stream is NH with collision probability <= 2^-32 for distinct equal-length inputs;
// the Toeplitz pair gives <= 2^-64. The record length goes into the PRF that follows, so
// inputs that differ only in zero padding are told apart there.
//
// The release build computes it with 128-bit SIMD (i32x4 add, u32 -> u64 extending multiply);
// the scalar build computes the same function word by word. Tests check they agree.
// (bench/lib/sp-check.ts prints a digest of both builds' outputs for performance changes.)

import { RECORD_SIZE_MAX } from './limits';

/** 32-bit key words: enough for the longest record plus the Toeplitz shift. */
export const NH_KEY_WORDS: u32 = RECORD_SIZE_MAX / 4 + 8;

export let nhS0: u64 = 0;
export let nhS1: u64 = 0;

// 16 x 0xff then 16 x 0x00: loading 16 bytes at (MASK_TABLE + 16 - r) keeps r bytes.
const MASK_TABLE = memory.data<u8>([
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** A zeroed NH key buffer of NH_KEY_WORDS words. */
export function nhAllocateKey(): usize {
  const key = heap.alloc(<usize>NH_KEY_WORDS * 4);
  memory.fill(key, 0, <usize>NH_KEY_WORDS * 4);
  return key;
}

/**
 * NH of `length` (<= RECORD_SIZE_MAX) bytes at `pointer` under `key`; results in nhS0, nhS1.
 * May read up to 15 bytes past the end (never used): callers keep 16 bytes of slack.
 */
export function nhHash(pointer: usize, length: usize, key: usize): void {
  if (ASC_FEATURE_SIMD) {
    const sums = nhSimd(pointer, length, key);
    nhS0 = i64x2.extract_lane(sums, 0);
    nhS1 = i64x2.extract_lane(sums, 1);
  } else {
    nhScalar(pointer, length, key);
  }
}

// Performance (bench/sp.ts): the hot loops inline nhSimd. Per 16-byte chunk c both streams
// need key vectors K[c] (stream 0) and K[c + 1] (stream 1), so each key vector is loaded once
// and carried to the next chunk; two chunks per iteration halve the loop overhead.

// @ts-ignore: decorator
@inline
function nhChunk(m: v128, k0: v128, k1: v128, sums: v128): v128 {
  // Stream 0 adds K[c], stream 1 adds K[c + 1]; each multiplies t[0]*t[2] and t[1]*t[3].
  const t0 = i32x4.add(m, k0);
  const t1 = i32x4.add(m, k1);
  // Lanes (t0[0], t1[0], t0[1], t1[1]) times (t0[2], t1[2], t0[3], t1[3]): low and high
  // extending multiplies give (stream 0, stream 1) products for j = 0 and j = 1.
  const a = v128.shuffle<u32>(t0, t1, 0, 4, 1, 5);
  const b = v128.shuffle<u32>(t0, t1, 2, 6, 3, 7);
  return i64x2.add(i64x2.add(sums, v128.extmul_low<u32>(a, b)), v128.extmul_high<u32>(a, b));
}

/** NH with 128-bit SIMD: returns (S0, S1) as the two 64-bit lanes. Inlined into hot loops. */
// @ts-ignore: decorator
@inline
export function nhSimd(pointer: usize, length: usize, key: usize): v128 {
  let sums = i64x2.splat(0);
  let k = key;
  let p = pointer;
  const full = pointer + (length & ~(<usize>15));
  let kc = v128.load(k);
  for (; p + 32 <= full; p += 32, k += 32) {
    const k1 = v128.load(k, 16);
    const k2 = v128.load(k, 32);
    sums = nhChunk(v128.load(p), kc, k1, sums);
    sums = nhChunk(v128.load(p, 16), k1, k2, sums);
    kc = k2;
  }
  if (p < full) {
    const k1 = v128.load(k, 16);
    sums = nhChunk(v128.load(p), kc, k1, sums);
    kc = k1;
    p += 16;
    k += 16;
  }
  const rest = length & 15;
  if (rest != 0) {
    const m = v128.and(v128.load(p), v128.load(MASK_TABLE + 16 - rest));
    sums = nhChunk(m, kc, v128.load(k, 16), sums);
  }
  return sums;
}

// @ts-ignore: decorator
@inline
function pairs(w0: u32, w1: u32, w2: u32, w3: u32, k: usize): u64 {
  // 32-bit locals: the sums must wrap mod 2^32 before they are widened.
  const t0: u32 = w0 + load<u32>(k);
  const t1: u32 = w1 + load<u32>(k, 4);
  const t2: u32 = w2 + load<u32>(k, 8);
  const t3: u32 = w3 + load<u32>(k, 12);
  return (<u64>t0) * (<u64>t2) + (<u64>t1) * (<u64>t3);
}

function nhScalar(pointer: usize, length: usize, key: usize): void {
  let s0: u64 = 0;
  let s1: u64 = 0;
  let k = key;
  const full = pointer + (length & ~(<usize>15));
  let p = pointer;
  for (; p < full; p += 16, k += 16) {
    const w0 = load<u32>(p), w1 = load<u32>(p, 4), w2 = load<u32>(p, 8), w3 = load<u32>(p, 12);
    s0 += pairs(w0, w1, w2, w3, k);
    s1 += pairs(w0, w1, w2, w3, k + 16);
  }
  const rest = <u64>(length & 15);
  if (rest != 0) {
    // The last chunk zero-padded without a copy: read 16 bytes (the slack allows it), keep `rest`.
    const low = load<u64>(p) & (rest >= 8 ? <u64>-1 : ((<u64>1 << (rest << 3)) - 1));
    const high = rest > 8 ? load<u64>(p, 8) & ((<u64>1 << ((rest - 8) << 3)) - 1) : 0;
    const w0 = <u32>low, w1 = <u32>(low >> 32), w2 = <u32>high, w3 = <u32>(high >> 32);
    s0 += pairs(w0, w1, w2, w3, k);
    s1 += pairs(w0, w1, w2, w3, k + 16);
  }
  nhS0 = s0;
  nhS1 = s1;
}
