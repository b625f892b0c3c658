// The Sync-Point: an order-independent, keyed digest of the replicated state.
// Specified completely in docs/SYNC_POINT.md; summary:
//   record value  h(r)  = SipHash-1-3-128(KR, LE64(NH0(r)) || LE64(NH1(r)) || LE64(len(r)))
//   accumulator   A     = sum of h(r) over all records, mod 2^128 (with the record count N)
//   fold          (f0, f1) = SipHash-1-3-128(KF, LE64(A mod 2^64) || LE64(A >> 64) || LE64(N))
//   SP = f0, SPVV = f1 mod 2^16
// NH key word i (64-bit) = SipHash-1-3-64(KF, LE64(i)), split into two 32-bit words.

import { nhAllocateKey, nhHash, nhS0, nhS1, nhSimd, NH_KEY_WORDS } from './nh';
import { sip13Word } from './siphash';

const IV0: u64 = 0x736f6d6570736575;
const IV1: u64 = 0x646f72616e646f6d;
const IV2: u64 = 0x6c7967656e657261;
const IV3: u64 = 0x7465646279746573;

let kr0: u64 = 0;
let kr1: u64 = 0;
let kf0: u64 = 0;
let kf1: u64 = 0;
export let keyed = false;
let nhKey: usize = 0;

/** Last record value. */
export let hLo: u64 = 0;
export let hHi: u64 = 0;

/** The accumulator over the current state. */
export let accLo: u64 = 0;
export let accHi: u64 = 0;
export let recordCount: u64 = 0;

/** Last fold. */
export let spValue: u64 = 0;
export let spvvValue: u32 = 0;

/** Sets the 32-byte Sync-Point key (KR = bytes 0..15, KF = bytes 16..31). */
export function spSetKey(pointer: usize): void {
  if (nhKey == 0) nhKey = nhAllocateKey();
  kr0 = load<u64>(pointer);
  kr1 = load<u64>(pointer, 8);
  kf0 = load<u64>(pointer, 16);
  kf1 = load<u64>(pointer, 24);
  nhExpandKey(nhKey, kf0, kf1);
  keyed = true;
}

/** Fills an NH key from a SipHash key: word i = SipHash-1-3-64(k, LE64(i)). */
export function nhExpandKey(key: usize, k0: u64, k1: u64): void {
  for (let i: u32 = 0; i < NH_KEY_WORDS / 2; i++) {
    store<u64>(key + (<usize>i << 3), sip13Word(k0, k1, <u64>i));
  }
}

/** KF, for keys derived inside the core (the key-store index hash). */
export function keyFold0(): u64 { return kf0; }
export function keyFold1(): u64 { return kf1; }

// SipHash-1-3-128 of three 64-bit words; result in (outLo, outHi).
export let outLo: u64 = 0;
export let outHi: u64 = 0;

export function sip13x3(k0: u64, k1: u64, m0: u64, m1: u64, m2: u64): void {
  outLo = sip13x3Inline(k0, k1, m0, m1, m2);
  outHi = sip13High;
}

// Performance (bench/sp.ts): the per-record SipHash dominates for small records, so the hot
// loops inline it with every round written out and the state in locals; the high half comes
// back through one global. SIMD builds hash two records at once, one per 64-bit lane
// (sip13x3Pair): wasm has no 64-bit lane rotate, but shifts, or and shuffles in 128-bit
// registers still do two records for about the price of one. Same function, same outputs.

/** High half of the last sip13x3Inline. */
export let sip13High: u64 = 0;

/** SipHash-1-3-128 of (m0, m1, m2) under (k0, k1): returns the low half, high half in sip13High. */
// @ts-ignore: decorator
@inline
export function sip13x3Inline(k0: u64, k1: u64, m0: u64, m1: u64, m2: u64): u64 {
  let a = k0 ^ IV0, b = k1 ^ IV1 ^ 0xee, c = k0 ^ IV2, e = k1 ^ IV3;
  e ^= m0;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a ^= m0;
  e ^= m1;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a ^= m1;
  e ^= m2;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a ^= m2;
  const last: u64 = (<u64>24) << 56;
  e ^= last;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a ^= last;
  c ^= 0xee;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  const low = a ^ b ^ c ^ e;
  b ^= 0xdd;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  sip13High = a ^ b ^ c ^ e;
  return low;
}

// @ts-ignore: decorator
@inline function rotl13(x: v128): v128 { return v128.or(i64x2.shl(x, 13), i64x2.shr_u(x, 51)); }
// @ts-ignore: decorator
@inline function rotl16(x: v128): v128 { return v128.shuffle<u16>(x, x, 3, 0, 1, 2, 7, 4, 5, 6); }
// @ts-ignore: decorator
@inline function rotl17(x: v128): v128 { return v128.or(i64x2.shl(x, 17), i64x2.shr_u(x, 47)); }
// @ts-ignore: decorator
@inline function rotl21(x: v128): v128 { return v128.or(i64x2.shl(x, 21), i64x2.shr_u(x, 43)); }
// @ts-ignore: decorator
@inline function rotl32(x: v128): v128 { return v128.shuffle<u32>(x, x, 1, 0, 3, 2); }

/** High halves of the last sip13x3Pair (first, second message). */
export let sip13PairHigh0: u64 = 0;
export let sip13PairHigh1: u64 = 0;

/** sip13x3Inline of two messages at once, one per 64-bit lane (SIMD builds only); returns the low halves. */
// @ts-ignore: decorator
@inline
export function sip13x3Pair(k0: u64, k1: u64, m0: v128, m1: v128, m2: v128): v128 {
  let a = i64x2.splat(k0 ^ IV0), b = i64x2.splat(k1 ^ IV1 ^ 0xee), c = i64x2.splat(k0 ^ IV2), e = i64x2.splat(k1 ^ IV3);
  e = v128.xor(e, m0);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = v128.xor(a, m0);
  e = v128.xor(e, m1);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = v128.xor(a, m1);
  e = v128.xor(e, m2);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = v128.xor(a, m2);
  const last = i64x2.splat((<u64>24) << 56);
  e = v128.xor(e, last);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = v128.xor(a, last);
  c = v128.xor(c, i64x2.splat(0xee));
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  const low = v128.xor(v128.xor(a, b), v128.xor(c, e));
  b = v128.xor(b, i64x2.splat(0xdd));
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  a = i64x2.add(a, b); b = rotl13(b); b = v128.xor(b, a); a = rotl32(a); c = i64x2.add(c, e); e = rotl16(e); e = v128.xor(e, c);
  a = i64x2.add(a, e); e = rotl21(e); e = v128.xor(e, a); c = i64x2.add(c, b); b = rotl17(b); b = v128.xor(b, c); c = rotl32(c);
  const high = v128.xor(v128.xor(a, b), v128.xor(c, e));
  sip13PairHigh0 = i64x2.extract_lane(high, 0);
  sip13PairHigh1 = i64x2.extract_lane(high, 1);
  return low;
}

/** The record value h(r) of `length` bytes at `pointer` into (hLo, hHi). 16 bytes of slack needed. */
export function recordValue(pointer: usize, length: usize): void {
  nhHash(pointer, length, nhKey);
  hLo = sip13x3Inline(kr0, kr1, nhS0, nhS1, <u64>length);
  hHi = sip13High;
}

/** h(r) for the hot loops: returns the low half, high half in sip13High. 16 bytes of slack needed. */
// @ts-ignore: decorator
@inline
export function recordValueInline(pointer: usize, length: usize): u64 {
  let s0: u64, s1: u64;
  if (ASC_FEATURE_SIMD) {
    const sums = nhSimd(pointer, length, nhKey);
    s0 = i64x2.extract_lane(sums, 0);
    s1 = i64x2.extract_lane(sums, 1);
  } else {
    nhHash(pointer, length, nhKey);
    s0 = nhS0;
    s1 = nhS1;
  }
  return sip13x3Inline(kr0, kr1, s0, s1, <u64>length);
}

/**
 * h(r) of two records at once (SIMD builds only): returns the low halves as lanes
 * (first, second); high halves in sip13PairHigh0, sip13PairHigh1. 16 bytes of slack needed.
 */
// @ts-ignore: decorator
@inline
export function recordValuePair(pointer0: usize, length0: usize, pointer1: usize, length1: usize): v128 {
  const sums0 = nhSimd(pointer0, length0, nhKey);
  const sums1 = nhSimd(pointer1, length1, nhKey);
  return sip13x3Pair(kr0, kr1,
    v128.shuffle<u64>(sums0, sums1, 0, 2),
    v128.shuffle<u64>(sums0, sums1, 1, 3),
    i64x2.replace_lane(i64x2.splat(<u64>length0), 1, <u64>length1));
}

export function accAdd(lo: u64, hi: u64): void {
  const sum = accLo + lo;
  accHi += hi + <u64>(sum < lo);
  accLo = sum;
  recordCount++;
}

export function accSub(lo: u64, hi: u64): void {
  const borrow = <u64>(accLo < lo);
  accLo -= lo;
  accHi -= hi + borrow;
  recordCount--;
}

export function accReset(): void {
  accLo = 0;
  accHi = 0;
  recordCount = 0;
}

/** Folds an accumulator into (spValue, spvvValue). */
export function fold(lo: u64, hi: u64, count: u64): void {
  sip13x3(kf0, kf1, lo, hi, count);
  spValue = outLo;
  spvvValue = <u32>(outHi & 0xffff);
}
