// The default random source (WebCrypto's, in Node and browsers). Everything that draws
// randomness takes a generator instead, so tests can inject a seeded one.

/** crypto.getRandomValues fills at most this many bytes per call. */
const RANDOM_CHUNK_MAX = 65_536;

export function secureRandomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += RANDOM_CHUNK_MAX)
    globalThis.crypto.getRandomValues(out.subarray(at, Math.min(length, at + RANDOM_CHUNK_MAX)));
  return out;
}

/** Bytes a pooled generator (pooledRandom) fills at a time. */
export const RANDOM_POOL_BYTES = 4096;

/**
 * Random bytes for small requests drawn from a pool that `fill` refills RANDOM_POOL_BYTES at a
 * time. A generated key takes two (its material and its wrapping nonce), and one call into the
 * system's generator cost 2-6 µs of a node's thread each (5 % of the coordinator's CPU at 32
 * writers, bench:commit's profile). What a request takes is copied out and zeroed in the pool,
 * so no byte is handed out twice nor kept once used; requests above a sixteenth of the pool
 * are filled directly.
 */
export function pooledRandom(
  fill: (bytes: Uint8Array) => void,
  poolBytes = RANDOM_POOL_BYTES,
): (length: number) => Uint8Array {
  const pool = new Uint8Array(poolBytes);
  let at = poolBytes;
  return (length) => {
    const out = new Uint8Array(length);
    if (length > poolBytes >> 4) {
      fill(out);
      return out;
    }
    if (at + length > poolBytes) {
      fill(pool);
      at = 0;
    }
    out.set(pool.subarray(at, at + length));
    pool.fill(0, at, at + length);
    at += length;
    return out;
  };
}

/**
 * pooledRandom over the system's generator (WebCrypto's getRandomValues, in Node and browsers):
 * the SDK's default. A client draws 16 bytes for every write's request id: one call into the
 * generator each took about 2 µs in a loop alone, and 3-10 µs of the client's CPU per write at
 * 32 writers (docs/PERFORMANCE.md).
 */
export function pooledSecureRandom(): (length: number) => Uint8Array {
  return pooledRandom((bytes) => globalThis.crypto.getRandomValues(bytes));
}
