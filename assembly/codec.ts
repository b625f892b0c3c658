// Canonical binary records for what an HSM replicates: users, objects (keys), pool policy.
// Layout in docs/FORMATS.md. Exactly one valid encoding per record: every length is
// checked against the bytes given, reserved bits and bytes must be zero, ACLs are sorted.
// The decoder reads only [pointer, pointer + length) and never traps.

import * as rc from './codes';
import {
  ACL_ENTRIES_MAX, NAME_LENGTH_MAX, RECORD_SIZE_MAX, SALT_SIZE_MAX, SALT_SIZE_MIN, WRAPPED_KEY_SIZE_MAX,
} from './limits';

export const RECORD_VERSION: u8 = 1;
export const KIND_USER: u8 = 1;
export const KIND_OBJECT: u8 = 2;
export const KIND_POLICY: u8 = 3;
export const HEADER_SIZE: u32 = 8;

export const USER_FLAG_ADMIN: u8 = 1;
export const KDF_SCRYPT: u8 = 1;
export const KDF_PBKDF2_SHA256: u8 = 2;
export const VERIFIER_SIZE: u32 = 64; // SCRAM StoredKey (32) || ServerKey (32)

export const ATTR_EXPORTABLE: u8 = 1;
export const ATTR_TEMPORARY: u8 = 2;
export const RIGHT_USE: u8 = 1;
export const RIGHT_EXPORT: u8 = 2;
export const RIGHT_REMOVE: u8 = 4;

export const POLICY_FLAG_EXPORT_ALLOWED: u16 = 1;
export const SESSION_TIMEOUT_MAX: u32 = 604800;

/** Key size in bits for each key type; 0 = not a key type. Index = type. */
export function keyBits(keyType: u32): u32 {
  switch (keyType) {
    case 1: return 128; // AES-128
    case 2: return 256; // AES-256
    case 3: return 256; // HMAC-SHA-256
    case 4: return 256; // EC P-256 (ECDSA)
    case 5: return 256; // Ed25519
    case 6: return 2048; // RSA-2048
    // Appended in round 2; numbers are host/core/records.ts KEY_TYPES index + 1, never reused.
    case 7: return 192; // AES-192
    case 8: return 3072; // RSA-3072
    case 9: return 4096; // RSA-4096
    case 10: return 384; // EC P-384 (ECDSA)
    case 11: return 521; // EC P-521 (ECDSA)
    case 12: return 256; // EC secp256k1 (ECDSA)
    case 13: return 256; // X25519 (key agreement)
    case 14: return 448; // Ed448
    case 15: return 128; // CMAC over AES-128
    case 16: return 256; // CMAC over AES-256
    case 17: return 384; // HMAC-SHA-384
    case 18: return 512; // HMAC-SHA-512
    default: return 0;
  }
}

// Decoded view: 32 u32 fields the host reads after a successful decode.
export const VIEW_KIND = 0;
export const VIEW_NAME_OFFSET = 1;
export const VIEW_NAME_LENGTH = 2;
export const VIEW_LENGTH = 3;
// user
export const VIEW_USER_FLAGS = 4;
export const VIEW_USER_FAILED = 5;
export const VIEW_USER_KDF = 6;
export const VIEW_USER_SALT_OFFSET = 7;
export const VIEW_USER_SALT_LENGTH = 8;
export const VIEW_USER_COST = 9;
export const VIEW_USER_BLOCK = 10;
export const VIEW_USER_PARALLEL = 11;
export const VIEW_USER_VERIFIER_OFFSET = 12;
// object
export const VIEW_OBJECT_TYPE = 4;
export const VIEW_OBJECT_ATTRIBUTES = 5;
export const VIEW_OBJECT_BITS = 6;
export const VIEW_OBJECT_OWNER_OFFSET = 7;
export const VIEW_OBJECT_OWNER_LENGTH = 8;
export const VIEW_OBJECT_ACL_OFFSET = 9;
export const VIEW_OBJECT_ACL_COUNT = 10;
export const VIEW_OBJECT_WRAPPED_OFFSET = 11;
export const VIEW_OBJECT_WRAPPED_LENGTH = 12;
// policy
export const VIEW_POLICY_MIN_PASSWORD = 4;
export const VIEW_POLICY_MAX_FAILED = 5;
export const VIEW_POLICY_FLAGS = 6;
export const VIEW_POLICY_TIMEOUT = 7;
export const VIEW_FIELDS = 32;

// @ts-ignore: decorator
@inline
function setView(view: usize, field: i32, value: u32): void {
  if (view != 0) store<u32>(view + (<usize>field << 2), value);
}

// Performance (bench/sp.ts, the write path): one table load per name byte instead of a chain
// of range tests. 1 = a name byte ([A-Za-z0-9_.@-]), indexed by the byte.
const NAME_BYTES = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
  0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** 1..32 bytes of [A-Za-z0-9_.@-]. */
export function validName(pointer: usize, length: u32): bool {
  if (length < 1 || length > NAME_LENGTH_MAX) return false;
  let ok: u32 = 1;
  for (let i: u32 = 0; i < length; i++) ok &= <u32>load<u8>(NAME_BYTES + <usize>load<u8>(pointer + i));
  return ok != 0;
}

/** Bytewise comparison of two names, shorter first on a common prefix. */
export function compareNames(a: usize, aLength: u32, b: usize, bLength: u32): i32 {
  const n = aLength < bLength ? aLength : bLength;
  for (let i: u32 = 0; i < n; i++) {
    const x = <i32>load<u8>(a + i);
    const y = <i32>load<u8>(b + i);
    if (x != y) return x - y;
  }
  return <i32>aLength - <i32>bLength;
}

/** Validates the record at [pointer, pointer + length); fills `view` (if not 0). Returns a code. */
export function decodeRecord(pointer: usize, length: u32, view: usize): i32 {
  if (length < HEADER_SIZE) return rc.RECORD_TRUNCATED;
  if (length > RECORD_SIZE_MAX) return rc.RECORD_OVERSIZE;
  if (load<u8>(pointer) != RECORD_VERSION) return rc.RECORD_UNKNOWN_VERSION;
  const kind = load<u8>(pointer, 1);
  if (kind < KIND_USER || kind > KIND_POLICY) return rc.RECORD_UNKNOWN_KIND;
  const nameLength = <u32>load<u8>(pointer, 2);
  if (load<u8>(pointer, 3) != 0) return rc.RECORD_NON_CANONICAL;
  const bodyLength = load<u32>(pointer, 4);
  const total = <u64>HEADER_SIZE + <u64>nameLength + <u64>bodyLength;
  if (total > <u64>RECORD_SIZE_MAX) return rc.RECORD_OVERSIZE;
  if (total > <u64>length) return rc.RECORD_TRUNCATED;
  if (total < <u64>length) return rc.RECORD_NON_CANONICAL;
  if (!validName(pointer + HEADER_SIZE, nameLength)) return rc.RECORD_BAD_NAME;
  setView(view, VIEW_KIND, kind);
  setView(view, VIEW_NAME_OFFSET, HEADER_SIZE);
  setView(view, VIEW_NAME_LENGTH, nameLength);
  setView(view, VIEW_LENGTH, length);
  const body = HEADER_SIZE + nameLength;
  if (kind == KIND_USER) return decodeUser(pointer, body, bodyLength, view);
  if (kind == KIND_OBJECT) return decodeObject(pointer, body, bodyLength, view);
  return decodePolicy(pointer, nameLength, body, bodyLength, view);
}

function decodeUser(record: usize, body: u32, length: u32, view: usize): i32 {
  if (length < 16) return rc.RECORD_TRUNCATED;
  const p = record + body;
  const flags = load<u8>(p);
  if ((flags & ~USER_FLAG_ADMIN) != 0) return rc.RECORD_NON_CANONICAL;
  const failed = load<u8>(p, 1);
  const kdf = load<u8>(p, 2);
  const saltLength = <u32>load<u8>(p, 3);
  const cost = load<u32>(p, 4);
  const block = load<u32>(p, 8);
  const parallel = load<u32>(p, 12);
  if (kdf == KDF_SCRYPT) {
    if (cost < 1 || cost > 22 || block < 1 || block > 32 || parallel < 1 || parallel > 16) return rc.RECORD_BAD_FIELD;
  } else if (kdf == KDF_PBKDF2_SHA256) {
    if (cost < 1 || cost > 10_000_000 || block != 0 || parallel != 0) return rc.RECORD_BAD_FIELD;
  } else {
    return rc.RECORD_BAD_FIELD;
  }
  if (saltLength < SALT_SIZE_MIN || saltLength > SALT_SIZE_MAX) return rc.RECORD_BAD_FIELD;
  const needed: u32 = 16 + saltLength + VERIFIER_SIZE;
  if (length < needed) return rc.RECORD_TRUNCATED;
  if (length > needed) return rc.RECORD_NON_CANONICAL;
  setView(view, VIEW_USER_FLAGS, flags);
  setView(view, VIEW_USER_FAILED, failed);
  setView(view, VIEW_USER_KDF, kdf);
  setView(view, VIEW_USER_SALT_OFFSET, body + 16);
  setView(view, VIEW_USER_SALT_LENGTH, saltLength);
  setView(view, VIEW_USER_COST, cost);
  setView(view, VIEW_USER_BLOCK, block);
  setView(view, VIEW_USER_PARALLEL, parallel);
  setView(view, VIEW_USER_VERIFIER_OFFSET, body + 16 + saltLength);
  return rc.OK;
}

function decodeObject(record: usize, body: u32, length: u32, view: usize): i32 {
  if (length < 8) return rc.RECORD_TRUNCATED;
  const p = record + body;
  const keyType = <u32>load<u8>(p);
  const attributes = load<u8>(p, 1);
  const bits = <u32>load<u16>(p, 2);
  const ownerLength = <u32>load<u8>(p, 4);
  const aclCount = <u32>load<u8>(p, 5);
  const wrappedLength = <u32>load<u16>(p, 6);
  const expectedBits = keyBits(keyType);
  if (expectedBits == 0 || bits != expectedBits) return rc.RECORD_BAD_FIELD;
  if ((attributes & ~(ATTR_EXPORTABLE | ATTR_TEMPORARY)) != 0) return rc.RECORD_NON_CANONICAL;
  if (aclCount > ACL_ENTRIES_MAX) return rc.RECORD_BAD_FIELD;
  if (wrappedLength < 1 || wrappedLength > WRAPPED_KEY_SIZE_MAX) return rc.RECORD_BAD_FIELD;
  let at: u32 = 8;
  if (length - at < ownerLength) return rc.RECORD_TRUNCATED;
  const owner = p + at;
  if (!validName(owner, ownerLength)) return rc.RECORD_BAD_NAME;
  at += ownerLength;
  const aclStart = at;
  let previous: usize = 0;
  let previousLength: u32 = 0;
  for (let i: u32 = 0; i < aclCount; i++) {
    if (length - at < 2) return rc.RECORD_TRUNCATED;
    const entryLength = <u32>load<u8>(p + at);
    const rights = load<u8>(p + at, 1);
    at += 2;
    if (length - at < entryLength) return rc.RECORD_TRUNCATED;
    const name = p + at;
    if (!validName(name, entryLength)) return rc.RECORD_BAD_NAME;
    if (rights == 0 || (rights & ~(RIGHT_USE | RIGHT_EXPORT | RIGHT_REMOVE)) != 0) return rc.RECORD_BAD_FIELD;
    if (compareNames(name, entryLength, owner, ownerLength) == 0) return rc.RECORD_NON_CANONICAL;
    if (i > 0 && compareNames(previous, previousLength, name, entryLength) >= 0) return rc.RECORD_NON_CANONICAL;
    previous = name;
    previousLength = entryLength;
    at += entryLength;
  }
  if (length - at < wrappedLength) return rc.RECORD_TRUNCATED;
  if (length - at > wrappedLength) return rc.RECORD_NON_CANONICAL;
  setView(view, VIEW_OBJECT_TYPE, keyType);
  setView(view, VIEW_OBJECT_ATTRIBUTES, attributes);
  setView(view, VIEW_OBJECT_BITS, bits);
  setView(view, VIEW_OBJECT_OWNER_OFFSET, body + 8);
  setView(view, VIEW_OBJECT_OWNER_LENGTH, ownerLength);
  setView(view, VIEW_OBJECT_ACL_OFFSET, body + aclStart);
  setView(view, VIEW_OBJECT_ACL_COUNT, aclCount);
  setView(view, VIEW_OBJECT_WRAPPED_OFFSET, body + at);
  setView(view, VIEW_OBJECT_WRAPPED_LENGTH, wrappedLength);
  return rc.OK;
}

/** True for a valid object record with the temporary attribute (never replicated). */
export function isTemporaryObject(record: usize): bool {
  if (load<u8>(record, 1) != KIND_OBJECT) return false;
  return (load<u8>(record + HEADER_SIZE + <usize>load<u8>(record, 2), 1) & ATTR_TEMPORARY) != 0;
}

/** The policy is a singleton named "pool". */
function isPoolName(pointer: usize, length: u32): bool {
  return length == 4 && load<u32>(pointer) == 0x6c6f6f70; // "pool"
}

function decodePolicy(record: usize, nameLength: u32, body: u32, length: u32, view: usize): i32 {
  if (!isPoolName(record + HEADER_SIZE, nameLength)) return rc.RECORD_BAD_NAME;
  if (length < 8) return rc.RECORD_TRUNCATED;
  if (length > 8) return rc.RECORD_NON_CANONICAL;
  const p = record + body;
  const minPassword = <u32>load<u8>(p);
  const maxFailed = <u32>load<u8>(p, 1);
  const flags = load<u16>(p, 2);
  const timeout = load<u32>(p, 4);
  if (minPassword < 4 || minPassword > 64 || maxFailed < 1) return rc.RECORD_BAD_FIELD;
  if ((flags & ~POLICY_FLAG_EXPORT_ALLOWED) != 0) return rc.RECORD_NON_CANONICAL;
  if (timeout < 1 || timeout > SESSION_TIMEOUT_MAX) return rc.RECORD_BAD_FIELD;
  setView(view, VIEW_POLICY_MIN_PASSWORD, minPassword);
  setView(view, VIEW_POLICY_MAX_FAILED, maxFailed);
  setView(view, VIEW_POLICY_FLAGS, flags);
  setView(view, VIEW_POLICY_TIMEOUT, timeout);
  return rc.OK;
}

// ---- Encoders: write the layout, then validate the result with the decoder, so there is
// ---- exactly one definition of a valid record. Return the length, or minus a code.

function writeHeader(out: usize, kind: u8, name: usize, nameLength: u32, bodyLength: u32): usize {
  store<u8>(out, RECORD_VERSION);
  store<u8>(out, kind, 1);
  store<u8>(out, <u8>nameLength, 2);
  store<u8>(out, 0, 3);
  store<u32>(out, bodyLength, 4);
  memory.copy(out + HEADER_SIZE, name, nameLength);
  return out + HEADER_SIZE + nameLength;
}

function finish(out: usize, total: u32): i32 {
  const code = decodeRecord(out, total, 0);
  return code == rc.OK ? <i32>total : -code;
}

export function encodeUser(
  out: usize, name: usize, nameLength: u32, flags: u32, failed: u32, kdf: u32,
  salt: usize, saltLength: u32, cost: u32, block: u32, parallel: u32, verifier: usize,
): i32 {
  if (nameLength > NAME_LENGTH_MAX) return -rc.RECORD_BAD_NAME;
  if (saltLength > SALT_SIZE_MAX || flags > 0xff || failed > 0xff || kdf > 0xff) return -rc.RECORD_BAD_FIELD;
  const bodyLength = 16 + saltLength + VERIFIER_SIZE;
  const p = writeHeader(out, KIND_USER, name, nameLength, bodyLength);
  store<u8>(p, <u8>flags);
  store<u8>(p, <u8>failed, 1);
  store<u8>(p, <u8>kdf, 2);
  store<u8>(p, <u8>saltLength, 3);
  store<u32>(p, cost, 4);
  store<u32>(p, block, 8);
  store<u32>(p, parallel, 12);
  memory.copy(p + 16, salt, saltLength);
  memory.copy(p + 16 + saltLength, verifier, VERIFIER_SIZE);
  return finish(out, HEADER_SIZE + nameLength + bodyLength);
}

/** `acl` holds `aclCount` entries already in wire form (u8 length, u8 rights, name), `aclSize` bytes. */
export function encodeObject(
  out: usize, name: usize, nameLength: u32, keyType: u32, attributes: u32,
  owner: usize, ownerLength: u32, acl: usize, aclCount: u32, aclSize: u32, wrapped: usize, wrappedLength: u32,
): i32 {
  if (nameLength > NAME_LENGTH_MAX || ownerLength > NAME_LENGTH_MAX) return -rc.RECORD_BAD_NAME;
  if (aclCount > ACL_ENTRIES_MAX || wrappedLength > WRAPPED_KEY_SIZE_MAX || keyType > 0xff || attributes > 0xff) {
    return -rc.RECORD_BAD_FIELD;
  }
  if (aclSize > ACL_ENTRIES_MAX * (2 + NAME_LENGTH_MAX)) return -rc.RECORD_BAD_FIELD;
  const bodyLength = 8 + ownerLength + aclSize + wrappedLength;
  if (HEADER_SIZE + nameLength + bodyLength > RECORD_SIZE_MAX) return -rc.RECORD_OVERSIZE;
  const p = writeHeader(out, KIND_OBJECT, name, nameLength, bodyLength);
  store<u8>(p, <u8>keyType);
  store<u8>(p, <u8>attributes, 1);
  store<u16>(p, <u16>keyBits(keyType), 2);
  store<u8>(p, <u8>ownerLength, 4);
  store<u8>(p, <u8>aclCount, 5);
  store<u16>(p, <u16>wrappedLength, 6);
  memory.copy(p + 8, owner, ownerLength);
  memory.copy(p + 8 + ownerLength, acl, aclSize);
  memory.copy(p + 8 + ownerLength + aclSize, wrapped, wrappedLength);
  return finish(out, HEADER_SIZE + nameLength + bodyLength);
}

export function encodePolicy(out: usize, minPassword: u32, maxFailed: u32, flags: u32, timeout: u32): i32 {
  if (minPassword > 0xff || maxFailed > 0xff || flags > 0xffff) return -rc.RECORD_BAD_FIELD;
  const p = out + HEADER_SIZE + 4;
  store<u8>(out, RECORD_VERSION);
  store<u8>(out, KIND_POLICY, 1);
  store<u8>(out, 4, 2);
  store<u8>(out, 0, 3);
  store<u32>(out, 8, 4);
  store<u32>(out + HEADER_SIZE, 0x6c6f6f70); // "pool"
  store<u8>(p, <u8>minPassword);
  store<u8>(p, <u8>maxFailed, 1);
  store<u16>(p, <u16>flags, 2);
  store<u32>(p, timeout, 4);
  return finish(out, HEADER_SIZE + 4 + 8);
}
