// A fast 128-bit checksum for log entries and snapshot files: the Sync-Point's machinery
// under a fixed, public key. Input is cut into 4096-byte blocks; each block's NH pair and
// length are chained through SipHash-1-3-128:
//   c = IV;  for each block b:  c = SipHash-1-3-128(c, LE64(NH0(b)) || LE64(NH1(b)) || LE64(len(b)))
//   with the block index folded into the key of the first word:  k0 = c.lo ^ index
//   an empty input is one block of length 0.
// It detects corruption and torn writes; it is NOT a MAC (the key is public): peer and
// backup authenticity come from keys derived from the SVMK.

import { nhAllocateKey, nhHash, nhS0, nhS1 } from './nh';
import { nhExpandKey, outHi, outLo, sip13x3 } from './syncpoint';

export const CHECKSUM_BLOCK_SIZE: usize = 4096;
// "hsmpool checksum" as two little-endian words.
const CHECKSUM_KEY0: u64 = 0x6c6f6f706d7368; // "hsmpool"
const CHECKSUM_KEY1: u64 = 0x6d75736b63656863; // "checksum"

let key: usize = 0;
export let checksumLo: u64 = 0;
export let checksumHi: u64 = 0;

export function checksumInit(): void {
  if (key != 0) return;
  key = nhAllocateKey();
  nhExpandKey(key, CHECKSUM_KEY0, CHECKSUM_KEY1);
}

/** Checksum of [pointer, pointer + length) into (checksumLo, checksumHi). 16 bytes of slack needed. */
export function checksum(pointer: usize, length: usize): void {
  let c0: u64 = CHECKSUM_KEY0;
  let c1: u64 = CHECKSUM_KEY1;
  let index: u64 = 0;
  let at: usize = 0;
  do {
    const n = min(CHECKSUM_BLOCK_SIZE, length - at);
    nhHash(pointer + at, n, key);
    sip13x3(c0 ^ index, c1, nhS0, nhS1, <u64>n);
    c0 = outLo;
    c1 = outHi;
    at += n;
    index++;
  } while (at < length);
  checksumLo = c0;
  checksumHi = c1;
}
