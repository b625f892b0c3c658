// SipHash (Aumasson & Bernstein) with a variable number of compression (c) and
// finalization (d) rounds, 64- and 128-bit outputs, as in the reference code.
// The Sync-Point uses SipHash-1-3-128; the test vectors check c=2,d=4 against the
// reference implementation's published outputs.

const IV0: u64 = 0x736f6d6570736575;
const IV1: u64 = 0x646f72616e646f6d;
const IV2: u64 = 0x6c7967656e657261;
const IV3: u64 = 0x7465646279746573;

// State lives in globals only for the generic, not-hot-path routine below.
let v0: u64 = 0;
let v1: u64 = 0;
let v2: u64 = 0;
let v3: u64 = 0;

/** Second half of the last 128-bit result (the first half is returned). */
export let sipHigh: u64 = 0;

// @ts-ignore: decorator
@inline
function round(): void {
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32);
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32);
}

function rounds(n: i32): void {
  for (let i = 0; i < n; i++) round();
}

/**
 * SipHash-c-d of `length` bytes at `pointer` under key (k0, k1), little-endian key words.
 * Returns the first 64-bit output word; with `wide` the second is left in `sipHigh`.
 */
export function sipHash(k0: u64, k1: u64, pointer: usize, length: usize, c: i32, d: i32, wide: bool): u64 {
  v0 = k0 ^ IV0;
  v1 = k1 ^ IV1;
  v2 = k0 ^ IV2;
  v3 = k1 ^ IV3;
  if (wide) v1 ^= 0xee;
  const end = pointer + (length & ~(<usize>7));
  for (let p = pointer; p < end; p += 8) {
    const m = load<u64>(p);
    v3 ^= m;
    rounds(c);
    v0 ^= m;
  }
  let last: u64 = (<u64>(length & 0xff)) << 56;
  const left = length & 7;
  for (let i: usize = 0; i < left; i++) {
    last |= (<u64>load<u8>(end + i)) << (<u64>(8 * i));
  }
  v3 ^= last;
  rounds(c);
  v0 ^= last;
  v2 ^= wide ? 0xee : 0xff;
  rounds(d);
  const first = v0 ^ v1 ^ v2 ^ v3;
  if (wide) {
    v1 ^= 0xdd;
    rounds(d);
    sipHigh = v0 ^ v1 ^ v2 ^ v3;
  }
  return first;
}

/** SipHash-1-3-64 of one 8-byte little-endian word: the key-expansion function. */
export function sip13Word(k0: u64, k1: u64, word: u64): u64 {
  let a = k0 ^ IV0, b = k1 ^ IV1, c = k0 ^ IV2, e = k1 ^ IV3;
  // one compression round over `word`
  e ^= word;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a ^= word;
  // the length block: 8 bytes, no tail
  const last: u64 = (<u64>8) << 56;
  e ^= last;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a ^= last;
  c ^= 0xff;
  for (let i = 0; i < 3; i++) {
    a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
    a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  }
  return a ^ b ^ c ^ e;
}

/**
 * SipHash-1-3-64 of `length` bytes at `pointer`: the same value as
 * sipHash(k0, k1, pointer, length, 1, 3, false), with the state in locals and the rounds
 * written out (performance: the key-store index hash runs on every write and lookup).
 */
export function sip13(k0: u64, k1: u64, pointer: usize, length: usize): u64 {
  let a = k0 ^ IV0, b = k1 ^ IV1, c = k0 ^ IV2, e = k1 ^ IV3;
  const end = pointer + (length & ~(<usize>7));
  for (let p = pointer; p < end; p += 8) {
    const m = load<u64>(p);
    e ^= m;
    a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
    a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
    a ^= m;
  }
  let last: u64 = (<u64>(length & 0xff)) << 56;
  const left = length & 7;
  for (let i: usize = 0; i < left; i++) last |= (<u64>load<u8>(end + i)) << (<u64>(8 * i));
  e ^= last;
  a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
  a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  a ^= last;
  c ^= 0xff;
  for (let i = 0; i < 3; i++) {
    a += b; b = rotl<u64>(b, 13); b ^= a; a = rotl<u64>(a, 32); c += e; e = rotl<u64>(e, 16); e ^= c;
    a += e; e = rotl<u64>(e, 21); e ^= a; c += b; b = rotl<u64>(b, 17); b ^= c; c = rotl<u64>(c, 32);
  }
  return a ^ b ^ c ^ e;
}
