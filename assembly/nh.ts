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

import { RECORD_SIZE_MAX } from './limits';

/** 32-bit key words: enough for the longest record plus the Toeplitz shift. */
export const NH_KEY_WORDS: u32 = RECORD_SIZE_MAX / 4 + 8;

export let nhS0: u64 = 0;
export let nhS1: u64 = 0;

// A 32-byte table: 16 x 0xff then 16 x 0x00; loading 16 bytes at (16 - r) keeps r bytes.
let maskTable: usize = 0;
let tailScratch: usize = 0;

/** A zeroed NH key buffer of NH_KEY_WORDS words. */
export function nhAllocateKey(): usize {
  nhInit();
  const key = heap.alloc(<usize>NH_KEY_WORDS * 4);
  memory.fill(key, 0, <usize>NH_KEY_WORDS * 4);
  return key;
}

function nhInit(): void {
  if (maskTable != 0) return;
  maskTable = heap.alloc(32);
  memory.fill(maskTable, 0xff, 16);
  memory.fill(maskTable + 16, 0, 16);
  tailScratch = heap.alloc(16);
}

/**
 * NH of `length` (<= RECORD_SIZE_MAX) bytes at `pointer` under `key`; results in nhS0, nhS1.
 * May read up to 15 bytes past the end (never used): callers keep 16 bytes of slack.
 */
export function nhHash(pointer: usize, length: usize, key: usize): void {
  if (ASC_FEATURE_SIMD) nhSimd(pointer, length, key);
  else nhScalar(pointer, length, key);
}

function nhSimd(pointer: usize, length: usize, key: usize): void {
  let a0 = i64x2.splat(0);
  let a1 = i64x2.splat(0);
  let k = key;
  const full = pointer + (length & ~(<usize>15));
  let p = pointer;
  for (; p < full; p += 16, k += 16) {
    const m = v128.load(p);
    const t0 = i32x4.add(m, v128.load(k));
    const t1 = i32x4.add(m, v128.load(k, 16));
    a0 = i64x2.add(a0, v128.extmul_low<u32>(t0, v128.shuffle<u32>(t0, t0, 2, 3, 0, 1)));
    a1 = i64x2.add(a1, v128.extmul_low<u32>(t1, v128.shuffle<u32>(t1, t1, 2, 3, 0, 1)));
  }
  const rest = length & 15;
  if (rest != 0) {
    const m = v128.and(v128.load(p), v128.load(maskTable + 16 - rest));
    const t0 = i32x4.add(m, v128.load(k));
    const t1 = i32x4.add(m, v128.load(k, 16));
    a0 = i64x2.add(a0, v128.extmul_low<u32>(t0, v128.shuffle<u32>(t0, t0, 2, 3, 0, 1)));
    a1 = i64x2.add(a1, v128.extmul_low<u32>(t1, v128.shuffle<u32>(t1, t1, 2, 3, 0, 1)));
  }
  nhS0 = i64x2.extract_lane(a0, 0) + i64x2.extract_lane(a0, 1);
  nhS1 = i64x2.extract_lane(a1, 0) + i64x2.extract_lane(a1, 1);
}

// @ts-ignore: decorator
@inline
function pairs(p: usize, k: usize): u64 {
  // 32-bit locals: the sums must wrap mod 2^32 before they are widened.
  const t0: u32 = load<u32>(p) + load<u32>(k);
  const t1: u32 = load<u32>(p, 4) + load<u32>(k, 4);
  const t2: u32 = load<u32>(p, 8) + load<u32>(k, 8);
  const t3: u32 = load<u32>(p, 12) + load<u32>(k, 12);
  return (<u64>t0) * (<u64>t2) + (<u64>t1) * (<u64>t3);
}

function nhScalar(pointer: usize, length: usize, key: usize): void {
  let s0: u64 = 0;
  let s1: u64 = 0;
  let k = key;
  const full = pointer + (length & ~(<usize>15));
  let p = pointer;
  for (; p < full; p += 16, k += 16) {
    s0 += pairs(p, k);
    s1 += pairs(p, k + 16);
  }
  const rest = length & 15;
  if (rest != 0) {
    memory.fill(tailScratch, 0, 16);
    memory.copy(tailScratch, p, rest);
    s0 += pairs(tailScratch, k);
    s1 += pairs(tailScratch, k + 16);
  }
  nhS0 = s0;
  nhS1 = s1;
}
