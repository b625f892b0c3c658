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
