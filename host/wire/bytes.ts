// Byte encodings shared by the SDK and the node, browser-safe (no Buffer): hex, base64,
// concatenation and comparison. Hex and concatenation are @noble/hashes' own; base64 is ours
// because it must be strict. Strict means one encoding per value (lowercase hex; base64 with
// padding, no whitespace, no URL alphabet, unused trailing bits zero), so a frame cannot carry
// the same request in two spellings.

import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';

export { concatBytes };

/** concatBytes for a list of any length (a spread of a long list hits the argument limit). */
export function joinBytes(chunks: Iterable<Uint8Array>): Uint8Array {
  const list = [...chunks];
  const out = new Uint8Array(list.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of list) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

const HEX_DIGITS = Uint16Array.from('0123456789abcdef', (digit) => digit.charCodeAt(0));
const HEX_SHORT = 64; // bytes: ids and SPs are 8 or 16

/** The digits of a short value, by its length in bytes: reused, so that making an id's text
 * allocates nothing but the string (a request-outcomes blob holds 131,072 ids). */
const HEX_SCRATCH: number[][] = [];

/** Lowercase hex, two digits a byte. A short value (an id) comes back as one flat string made
 * in one step: bytesToHex builds it by concatenation, a rope that every later regex test or
 * Map lookup must flatten first, which made checking and remembering 65,536 live-sync outcomes
 * cost several times their decoding. */
export function toHex(bytes: Uint8Array): string {
  return bytes.length > HEX_SHORT ? bytesToHex(bytes) : hexAt(bytes, 0, bytes.length);
}

/** toHex of the `length` bytes at `at` (at most 64), with no view made of them. */
export function hexAt(bytes: Uint8Array, at: number, length: number): string {
  if (length > HEX_SHORT || at < 0 || at + length > bytes.length)
    throw new RangeError('hexAt: outside the bytes, or longer than 64');
  const codes = (HEX_SCRATCH[length] ??= new Array<number>(2 * length).fill(0));
  for (let i = 0; i < length; i++) {
    const byte = bytes[at + i];
    codes[2 * i] = HEX_DIGITS[byte >> 4];
    codes[2 * i + 1] = HEX_DIGITS[byte & 15];
  }
  return String.fromCharCode.apply(null, codes);
}

/** Writes checked lowercase hex (an id that passed its pattern) as bytes at `at`, with no
 * allocation: outcomes are written by the tens of thousands. */
export function hexInto(target: Uint8Array, at: number, hex: string): void {
  for (let i = 0; i < hex.length; i += 2)
    target[at + i / 2] = (hexDigit(hex.charCodeAt(i)) << 4) | hexDigit(hex.charCodeAt(i + 1));
}

/** A checked lowercase hex digit's value. */
function hexDigit(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}

const HEX_PATTERN = /^(?:[0-9a-f]{2})*$/;

/** Decodes lowercase hex; undefined for anything else (the caller names the field). */
export function fromHex(text: string): Uint8Array | undefined {
  return HEX_PATTERN.test(text) ? hexToBytes(text) : undefined;
}

/** A 64-bit value as 16 lowercase hex digits (pool ids, transaction ids, Sync-Points). */
export function toHex64(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

/** Equal length and bytes. Not for secrets: use constantTimeEqual. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Compares in time independent of where the inputs differ (verifiers, MACs, proofs). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;
const EQUALS = 0x3d; // '='

const BASE64_CODES = new TextEncoder().encode(BASE64_ALPHABET);
const asciiDecoder = new TextDecoder();
/** Below this many bytes a string built a character at a time is cheaper than a decoder call. */
const BASE64_SHORT_MAX = 96;

/**
 * Node's Buffer, where this runs in Node: its base64 is native, about 4× the loops below on a
 * long input (a backup piece, and the session frame that carries it, 0.5–1 MB each), and its
 * decoder about 2× (it accepts anything: what it decodes must encode back to the text).
 * Browsers have none and use the loops. Long inputs only: a short one costs more in the call.
 */
interface NativeBase64 {
  from(
    buffer: ArrayBufferLike,
    offset: number,
    length: number,
  ): { toString(encoding: 'base64'): string };
  from(text: string, encoding: 'base64'): Uint8Array;
}
const nativeBase64 = (globalThis as { Buffer?: NativeBase64 }).Buffer;
/** From this many bytes (or characters) base64 goes to Node's Buffer: above its 4 KiB pool, so a
 * decoded Buffer owns its memory. */
const BASE64_NATIVE_MIN = 16 * 1024;

/** Standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  if (bytes.length <= BASE64_SHORT_MAX) return toBase64Short(bytes);
  if (nativeBase64 && bytes.length >= BASE64_NATIVE_MIN)
    return nativeBase64.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
  // Performance: a string grown a character at a time made 512 KiB of backup piece in 41 ms;
  // the characters written as bytes and decoded once take about 2.
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let at = 0;
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const word = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[at++] = BASE64_CODES[word >>> 18];
    out[at++] = BASE64_CODES[(word >>> 12) & 63];
    out[at++] = BASE64_CODES[(word >>> 6) & 63];
    out[at++] = BASE64_CODES[word & 63];
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const word = (bytes[i] << 16) | (rest === 2 ? bytes[i + 1] << 8 : 0);
    out[at++] = BASE64_CODES[word >>> 18];
    out[at++] = BASE64_CODES[(word >>> 12) & 63];
    out[at++] = rest === 2 ? BASE64_CODES[(word >>> 6) & 63] : EQUALS;
    out[at++] = EQUALS;
  }
  return asciiDecoder.decode(out);
}

function toBase64Short(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const word = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out +=
      BASE64_ALPHABET[word >>> 18] +
      BASE64_ALPHABET[(word >>> 12) & 63] +
      BASE64_ALPHABET[(word >>> 6) & 63] +
      BASE64_ALPHABET[word & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const word = bytes[i] << 16;
    out += BASE64_ALPHABET[word >>> 18] + BASE64_ALPHABET[(word >>> 12) & 63] + '==';
  } else if (rest === 2) {
    const word = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out +=
      BASE64_ALPHABET[word >>> 18] +
      BASE64_ALPHABET[(word >>> 12) & 63] +
      BASE64_ALPHABET[(word >>> 6) & 63] +
      '=';
  }
  return out;
}

/** Base64url without padding (JWK fields). */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Decodes canonical base64; undefined for anything else (the caller names the field). */
export function fromBase64(text: string): Uint8Array | undefined {
  const length = text.length;
  if (nativeBase64 && length >= BASE64_NATIVE_MIN) {
    // Buffer's decoder accepts anything (it skips what is not base64, takes base64url, needs no
    // padding). Canonical base64 is the one encoding of its bytes, so the text is what the loop
    // below accepts exactly when the bytes encode back to it. Performance: a regular expression
    // over the text made this check 1.0 of the 2.4 s of CPU `hsmpool backup` spent at 1M keys;
    // encoding back is native.
    const decoded = nativeBase64.from(text, 'base64');
    const again = nativeBase64.from(decoded.buffer, decoded.byteOffset, decoded.byteLength);
    if (again.toString('base64') !== text) return undefined;
    return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
  }
  if (length % 4 !== 0) return undefined;
  const padding =
    length === 0 || text.charCodeAt(length - 1) !== EQUALS
      ? 0
      : text.charCodeAt(length - 2) === EQUALS
        ? 2
        : 1;
  const out = new Uint8Array((length / 4) * 3 - padding);
  const full = padding === 0 ? length : length - 4;
  let at = 0;
  for (let i = 0; i < full; i += 4) {
    const a = valueAt(text, i);
    const b = valueAt(text, i + 1);
    const c = valueAt(text, i + 2);
    const d = valueAt(text, i + 3);
    if ((a | b | c | d) < 0) return undefined; // '=' and non-alphabet characters are -1
    const word = (a << 18) | (b << 12) | (c << 6) | d;
    out[at++] = word >>> 16;
    out[at++] = (word >>> 8) & 255;
    out[at++] = word & 255;
  }
  if (padding === 0) return out;
  const a = valueAt(text, full);
  const b = valueAt(text, full + 1);
  const c = padding === 1 ? valueAt(text, full + 2) : 0;
  if ((a | b | c) < 0) return undefined;
  const word = (a << 18) | (b << 12) | (c << 6);
  // Canonical: the bits the padding drops must be zero.
  if ((word & (padding === 2 ? 0xffff : 0xff)) !== 0) return undefined;
  out[at++] = word >>> 16;
  if (padding === 1) out[at] = (word >>> 8) & 255;
  return out;
}

function valueAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? BASE64_VALUE[code] : -1;
}
