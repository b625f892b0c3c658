// The Sync-Point: an order-independent, keyed digest of the replicated state.
// Specified completely in docs/SYNC_POINT.md; summary:
//   record value  h(r)  = SipHash-1-3-128(KR, LE64(NH0(r)) || LE64(NH1(r)) || LE64(len(r)))
//   accumulator   A     = sum of h(r) over all records, mod 2^128 (with the record count N)
//   fold          (f0, f1) = SipHash-1-3-128(KF, LE64(A mod 2^64) || LE64(A >> 64) || LE64(N))
//   SP = f0, SPVV = f1 mod 2^16
// NH key word i (64-bit) = SipHash-1-3-64(KF, LE64(i)), split into two 32-bit words.

import { nhAllocateKey, nhHash, nhS0, nhS1, NH_KEY_WORDS } from './nh';
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
  for (let i = 0; i < 3; i++) {
    a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
    a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  }
  outLo = a ^ b ^ c ^ e;
  b ^= 0xdd;
  for (let i = 0; i < 3; i++) {
    a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
    a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  }
  outHi = a ^ b ^ c ^ e;
}

/** The record value h(r) of `length` bytes at `pointer` into (hLo, hHi). 16 bytes of slack needed. */
export function recordValue(pointer: usize, length: usize): void {
  nhHash(pointer, length, nhKey);
  sip13x3(kr0, kr1, nhS0, nhS1, <u64>length);
  hLo = outLo;
  hHi = outHi;
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
