// SCRAM-SHA-256 login (RFC 5802, RFC 7677) as pure state machines for both sides: messages in,
// messages out, nonces given by the caller, no I/O and no clock. The password never crosses:
// the client proves it knows ClientKey (ClientProof = ClientKey XOR HMAC(StoredKey,
// AuthMessage)), and the node proves it holds the verifier (ServerSignature = HMAC(ServerKey,
// AuthMessage)), so the client authenticates the node too.
//
// With PBKDF2 ("i=<iterations>") this is RFC 7677 exactly, so its example is a test vector.
// hsmpool also lets a user's verifier come from scrypt: the node then sends "i=1" and the
// extension "k=scrypt:<log2 N>:<r>:<p>" in server-first (RFC 5802 allows extensions there).
// Channel binding is not offered (GS2 header "n,,") and authzid is not supported.
//
// After a successful exchange both sides derive a session key, HKDF-SHA-256 of ClientKey with
// the AuthMessage as info: only the client and a node that verified the proof know ClientKey,
// so secrets that must cross later (imported keys, new passwords, exports) are sealed under it.

import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import { utf8, type KdfParameters } from '../core/records.ts';
import type { CryptoEngine } from './crypto-engine.ts';
import { constantTimeEqual, fromBase64, toBase64 } from './bytes.ts';

export const SCRAM_MESSAGE_LENGTH_MAX = 1024;
export const SCRAM_NONCE_LENGTH_MIN = 16;
export const SCRAM_NONCE_LENGTH_MAX = 128;
export const SCRAM_KEY_SIZE = 32;
export const SESSION_KEY_SIZE = 32;
const GS2_HEADER = 'n,,';
const CHANNEL_BINDING = 'biws'; // base64("n,,")
/** Printable ASCII without ',' (RFC 5802 "printable"). */
const NONCE_PATTERN = /^[\x21-\x2b\x2d-\x7e]+$/;
const SCRYPT_EXTENSION = /^k=scrypt:(\d{1,2}):(\d{1,2}):(\d{1,2})$/;

export interface ScramCredentials {
  readonly kdf: KdfParameters;
  readonly salt: Uint8Array;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

// ---- primitives ----

/** SASLprep is approximated by NFKC: enough for the passwords users type; RFC 7677's vector is ASCII. */
export function passwordBytes(password: string): Uint8Array {
  return utf8(password.normalize('NFKC'));
}

/** SaltedPassword: Hi() = PBKDF2-HMAC-SHA-256 per RFC 5802, or scrypt with the same output size. */
export function saltPassword(
  engine: CryptoEngine,
  password: string,
  salt: Uint8Array,
  kdf: KdfParameters,
): Promise<Uint8Array> {
  const bytes = passwordBytes(password);
  return kdf.kdf === 'scrypt'
    ? engine.scrypt(bytes, salt, kdf.log2N, kdf.r, kdf.p)
    : engine.pbkdf2Sha256(bytes, salt, kdf.iterations);
}

export function scramKeys(saltedPassword: Uint8Array): {
  clientKey: Uint8Array;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
} {
  const clientKey = hmac(sha256, saltedPassword, utf8('Client Key'));
  return {
    clientKey,
    storedKey: sha256(clientKey),
    serverKey: hmac(sha256, saltedPassword, utf8('Server Key')),
  };
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((byte, i) => byte ^ b[i]);
}

function sessionKeyOf(clientKey: Uint8Array, authMessage: string): Uint8Array {
  return hkdf(
    sha256,
    clientKey,
    utf8('hsmpool/session-key/v1'),
    utf8(authMessage),
    SESSION_KEY_SIZE,
  );
}

function kdfAttributes(kdf: KdfParameters): string {
  return kdf.kdf === 'pbkdf2-sha256'
    ? `i=${kdf.iterations}`
    : `i=1,k=scrypt:${kdf.log2N}:${kdf.r}:${kdf.p}`;
}

/** Splits "a=1,b=2" into attributes, in order; undefined if any part is not "x=value". */
function attributes(message: string): { name: string; value: string }[] | undefined {
  const parts = message.split(',');
  if (parts.some((part) => !/^[a-zA-Z]=/.test(part))) return undefined;
  return parts.map((part) => ({ name: part[0], value: part.slice(2) }));
}

function validNonce(nonce: string): boolean {
  return (
    nonce.length >= SCRAM_NONCE_LENGTH_MIN &&
    nonce.length <= SCRAM_NONCE_LENGTH_MAX &&
    NONCE_PATTERN.test(nonce)
  );
}

// ---- the node's side ----

export interface ClientFirst {
  readonly user: string;
  readonly clientNonce: string;
  readonly bare: string;
}

/** Parses "n,,n=<user>,r=<nonce>"; undefined if it is not exactly that shape. */
export function parseClientFirst(message: string): ClientFirst | undefined {
  if (message.length > SCRAM_MESSAGE_LENGTH_MAX || !message.startsWith(GS2_HEADER))
    return undefined;
  const bare = message.slice(GS2_HEADER.length);
  const parts = attributes(bare);
  if (!parts || parts.length !== 2 || parts[0].name !== 'n' || parts[1].name !== 'r')
    return undefined;
  const user = decodeSaslName(parts[0].value);
  if (user === undefined || user.length === 0 || !validNonce(parts[1].value)) return undefined;
  return { user, clientNonce: parts[1].value, bare };
}

function decodeSaslName(value: string): string | undefined {
  if (/=(?!2C|3D)/.test(value)) return undefined;
  return value.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

function encodeSaslName(name: string): string {
  return name.replaceAll('=', '=3D').replaceAll(',', '=2C');
}

/** The node after server-first: waits for client-final. */
export class ScramServer {
  private constructor(
    readonly user: string,
    private readonly clientFirstBare: string,
    readonly serverFirst: string,
    private readonly nonce: string,
    private readonly credentials: ScramCredentials,
  ) {}

  /** Answers client-first. `serverNonce` comes from the node's random source. */
  static start(
    clientFirst: ClientFirst,
    serverNonce: string,
    credentials: ScramCredentials,
  ): ScramServer {
    if (!validNonce(serverNonce))
      throw new RangeError('serverNonce: printable ASCII without commas, 16..128 characters');
    const nonce = clientFirst.clientNonce + serverNonce;
    const serverFirst = `r=${nonce},s=${toBase64(credentials.salt)},${kdfAttributes(credentials.kdf)}`;
    return new ScramServer(clientFirst.user, clientFirst.bare, serverFirst, nonce, credentials);
  }

  /**
   * Checks client-final. 'malformed' for a message of the wrong shape or nonce (not a password
   * guess), 'wrong-proof' for a proof that does not verify; on success, server-final and the
   * session key.
   */
  finish(
    clientFinal: string,
  ):
    | { result: 'malformed' }
    | { result: 'wrong-proof' }
    | { result: 'ok'; serverFinal: string; sessionKey: Uint8Array } {
    const parsed = parseClientFinal(clientFinal);
    if (!parsed || parsed.nonce !== this.nonce) return { result: 'malformed' };
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${parsed.withoutProof}`;
    const clientSignature = hmac(sha256, this.credentials.storedKey, utf8(authMessage));
    const clientKey = xor(parsed.proof, clientSignature);
    if (!constantTimeEqual(sha256(clientKey), this.credentials.storedKey))
      return { result: 'wrong-proof' };
    const serverSignature = hmac(sha256, this.credentials.serverKey, utf8(authMessage));
    return {
      result: 'ok',
      serverFinal: `v=${toBase64(serverSignature)}`,
      sessionKey: sessionKeyOf(clientKey, authMessage),
    };
  }
}

function parseClientFinal(
  message: string,
): { withoutProof: string; nonce: string; proof: Uint8Array } | undefined {
  if (message.length > SCRAM_MESSAGE_LENGTH_MAX) return undefined;
  const parts = attributes(message);
  if (
    !parts ||
    parts.length !== 3 ||
    parts[0].name !== 'c' ||
    parts[1].name !== 'r' ||
    parts[2].name !== 'p'
  )
    return undefined;
  if (parts[0].value !== CHANNEL_BINDING) return undefined;
  const proof = fromBase64(parts[2].value);
  if (!proof || proof.length !== SCRAM_KEY_SIZE) return undefined;
  return {
    withoutProof: message.slice(0, message.lastIndexOf(',p=')),
    nonce: parts[1].value,
    proof,
  };
}

// ---- the client's side ----

/** What a client accepts from server-first: a node cannot make it hash too little or too much. */
export interface KdfLimits {
  readonly pbkdf2IterationsMin: number;
  readonly pbkdf2IterationsMax: number;
  readonly scryptLog2NMin: number;
  readonly scryptLog2NMax: number;
  /** 128 · N · r, scrypt's memory. */
  readonly scryptMemoryBytesMax: number;
  readonly scryptRMax: number;
  readonly scryptPMax: number;
}

export const DEFAULT_KDF_LIMITS: KdfLimits = {
  pbkdf2IterationsMin: 4096, // RFC 7677's minimum
  pbkdf2IterationsMax: 10_000_000,
  scryptLog2NMin: 10,
  scryptLog2NMax: 20,
  scryptMemoryBytesMax: 256 * 2 ** 20,
  scryptRMax: 32,
  scryptPMax: 16,
};

export interface ServerFirst {
  readonly nonce: string;
  readonly salt: Uint8Array;
  readonly kdf: KdfParameters;
}

function parseServerFirst(message: string): ServerFirst | undefined {
  if (message.length > SCRAM_MESSAGE_LENGTH_MAX) return undefined;
  const parts = attributes(message);
  if (
    !parts ||
    parts.length < 3 ||
    parts.length > 4 ||
    parts[0].name !== 'r' ||
    parts[1].name !== 's' ||
    parts[2].name !== 'i'
  )
    return undefined;
  const salt = fromBase64(parts[1].value);
  if (!salt || salt.length === 0 || !/^[1-9]\d{0,8}$/.test(parts[2].value)) return undefined;
  const iterations = Number(parts[2].value);
  if (parts.length === 3)
    return { nonce: parts[0].value, salt, kdf: { kdf: 'pbkdf2-sha256', iterations } };
  const scrypt = SCRYPT_EXTENSION.exec(`${parts[3].name}=${parts[3].value}`);
  if (!scrypt || iterations !== 1) return undefined;
  return {
    nonce: parts[0].value,
    salt,
    kdf: { kdf: 'scrypt', log2N: Number(scrypt[1]), r: Number(scrypt[2]), p: Number(scrypt[3]) },
  };
}

function withinLimits(kdf: KdfParameters, limits: KdfLimits): boolean {
  if (kdf.kdf === 'pbkdf2-sha256')
    return (
      kdf.iterations >= limits.pbkdf2IterationsMin && kdf.iterations <= limits.pbkdf2IterationsMax
    );
  return (
    kdf.log2N >= limits.scryptLog2NMin &&
    kdf.log2N <= limits.scryptLog2NMax &&
    kdf.r >= 1 &&
    kdf.r <= limits.scryptRMax &&
    kdf.p >= 1 &&
    kdf.p <= limits.scryptPMax &&
    128 * 2 ** kdf.log2N * kdf.r <= limits.scryptMemoryBytesMax
  );
}

type ClientState =
  | { readonly step: 'sent-first' }
  | {
      readonly step: 'got-server-first';
      readonly serverFirst: string;
      readonly parsed: ServerFirst;
    }
  | {
      readonly step: 'sent-final';
      readonly authMessage: string;
      readonly clientKey: Uint8Array;
      readonly serverKey: Uint8Array;
    }
  | { readonly step: 'done'; readonly sessionKey: Uint8Array };

/** The client: clientFirst → receiveServerFirst → (hash the password) → clientFinal → receiveServerFinal. */
export class ScramClient {
  readonly clientFirst: string;
  private readonly bare: string;
  private state: ClientState = { step: 'sent-first' };

  constructor(
    user: string,
    private readonly clientNonce: string,
  ) {
    if (!validNonce(clientNonce))
      throw new RangeError('clientNonce: printable ASCII without commas, 16..128 characters');
    this.bare = `n=${encodeSaslName(user)},r=${clientNonce}`;
    this.clientFirst = GS2_HEADER + this.bare;
  }

  /** Checks server-first; returns the salt and KDF to hash the password with. */
  receiveServerFirst(serverFirst: string, limits: KdfLimits = DEFAULT_KDF_LIMITS): ServerFirst {
    if (this.state.step !== 'sent-first')
      throw new HsmError(CODE.PROTOCOL_ERROR, 'server-first out of order');
    const parsed = parseServerFirst(serverFirst);
    if (
      !parsed ||
      !parsed.nonce.startsWith(this.clientNonce) ||
      parsed.nonce.length <= this.clientNonce.length ||
      !validNonce(parsed.nonce)
    ) {
      throw new HsmError(CODE.PROTOCOL_ERROR, 'malformed SCRAM server-first message');
    }
    if (!withinLimits(parsed.kdf, limits))
      throw new HsmError(
        CODE.SERVER_AUTH_FAILED,
        `password hashing parameters outside the client's limits: ${JSON.stringify(parsed.kdf)}`,
      );
    this.state = { step: 'got-server-first', serverFirst, parsed };
    return parsed;
  }

  /** client-final, with the proof computed from SaltedPassword. */
  clientFinal(saltedPassword: Uint8Array): string {
    if (this.state.step !== 'got-server-first')
      throw new HsmError(CODE.PROTOCOL_ERROR, 'client-final out of order');
    const withoutProof = `c=${CHANNEL_BINDING},r=${this.state.parsed.nonce}`;
    const authMessage = `${this.bare},${this.state.serverFirst},${withoutProof}`;
    const { clientKey, storedKey, serverKey } = scramKeys(saltedPassword);
    const proof = xor(clientKey, hmac(sha256, storedKey, utf8(authMessage)));
    this.state = { step: 'sent-final', authMessage, clientKey, serverKey };
    return `${withoutProof},p=${toBase64(proof)}`;
  }

  /** Verifies the node's signature: only a node holding our verifier can produce it. Returns the session key. */
  receiveServerFinal(serverFinal: string): Uint8Array {
    if (this.state.step !== 'sent-final')
      throw new HsmError(CODE.PROTOCOL_ERROR, 'server-final out of order');
    const expected = hmac(sha256, this.state.serverKey, utf8(this.state.authMessage));
    const signature = serverFinal.startsWith('v=') ? fromBase64(serverFinal.slice(2)) : undefined;
    if (!signature || !constantTimeEqual(signature, expected))
      throw new HsmError(
        CODE.SERVER_AUTH_FAILED,
        'the node did not prove it holds the password verifier',
      );
    const sessionKey = sessionKeyOf(this.state.clientKey, this.state.authMessage);
    this.state = { step: 'done', sessionKey };
    return sessionKey;
  }
}
