// The service protocol: JSON request and response shapes a transport carries as frames, every
// limit, and the validation that turns an untrusted frame into a typed request or a documented
// code. Bytes travel as canonical base64 strings (wire/bytes.ts); request ids as 32 lowercase hex
// digits. Secrets never travel bare: passwords and key material are sealed under the SCRAM
// session key (sealing.ts). docs/CLIENT.md describes every request.

import { CODE, HsmError } from '../core/codes.ts';
import { NAME_LENGTH_MAX } from '../core/layout.ts';
import { KEY_TYPES, type AclEntry, type KeyType } from '../core/records.ts';
import { fromBase64, toBase64 } from './bytes.ts';
import { isRequestId } from './ids.ts';

// ---- limits ----

/** Characters in one JSON frame (a 64 KiB message in base64 with its AAD fits). */
export const FRAME_SIZE_MAX = 131_072;
/** Bytes signed, MACed or encrypted by one request. */
export const CRYPTO_INPUT_SIZE_MAX = 65_536;
/** Associated data of one AES-GCM request. */
export const AAD_SIZE_MAX = 8192;
/** A signature given to verify (RSA-4096: 512 bytes). */
export const SIGNATURE_SIZE_MAX = 512;
/** A MAC given to mac.verify (HMAC-SHA-512: 64 bytes). */
export const MAC_SIZE_MAX = 64;
/** Key material in plaintext (an RSA-4096 PKCS#8 is about 2.4 KiB; sealed, it stays under SEALED_SIZE_MAX). */
export const KEY_MATERIAL_SIZE_MAX = 3072;
/** A sealed secret: nonce, key material or password, tag. */
export const SEALED_SIZE_MAX = 4096;
/** Password characters (the policy sets the minimum). */
export const PASSWORD_LENGTH_MAX = 128;
/** Entries in one page of key.list or user.list. */
export const LIST_PAGE_SIZE_MAX = 1000;
export const LIST_PAGE_SIZE_DEFAULT = 100;
/** AES-GCM output of encrypt: nonce, ciphertext, tag. */
export const CIPHERTEXT_SIZE_MAX = CRYPTO_INPUT_SIZE_MAX + 12 + 16;
/** Session idle timeout bounds of the pool policy (docs/FORMATS.md). */
export const SESSION_TIMEOUT_SECONDS_MAX = 604_800;

export const NAME_PATTERN = /^[A-Za-z0-9_.@-]{1,32}$/;

// ---- shapes ----

/** Bytes as canonical base64 (branded so the compiler keeps it apart from plain text). */
export type Base64 = string & { readonly __encoding: 'base64' };
/** 32 lowercase hex digits: a write's id, the same on every retry. */
export type RequestId = string;

export const encodeBytes = (bytes: Uint8Array): Base64 => toBase64(bytes) as Base64;

export interface KeyInfo {
  readonly name: string;
  readonly keyType: KeyType;
  readonly exportable: boolean;
  readonly temporary: boolean;
  readonly owner: string;
  /** The grants; shown to the owner only (others see an empty list). */
  readonly acl: readonly AclEntry[];
}

export interface UserInfo {
  readonly name: string;
  readonly admin: boolean;
  readonly failedLogins: number;
  readonly locked: boolean;
}

export interface Policy {
  readonly minPasswordLength: number;
  readonly maxFailedLogins: number;
  readonly keyExportAllowed: boolean;
  readonly sessionTimeoutSeconds: number;
}

/** A write's remembered outcome: 0 committed; another code: it ran and failed (nothing changed). */
export interface WriteOutcomeResult {
  readonly code: number;
  readonly txid?: string;
}

/** What a replicated write answers: the transaction that carried it (absent when none was needed). */
export interface WriteResult {
  readonly txid?: string;
}

interface KeyAttributes {
  readonly name: string;
  readonly keyType: KeyType;
  readonly exportable: boolean;
  readonly temporary: boolean;
  /** Required unless temporary (a temporary key is never replicated). */
  readonly requestId?: RequestId;
}

/** Every request type: its fields and its result. */
export interface RequestMap {
  ping: { request: {}; result: {} };
  'login.start': { request: { clientFirst: string }; result: { serverFirst: string } };
  'login.finish': {
    request: { clientFinal: string };
    result: { serverFinal: string; user: string; admin: boolean; sessionTimeoutSeconds: number };
  };
  logout: { request: {}; result: {} };
  'user.create': {
    request: { requestId: RequestId; name: string; password: Base64; admin: boolean };
    result: WriteResult;
  };
  'user.delete': { request: { requestId: RequestId; name: string }; result: WriteResult };
  'user.password': {
    request: { requestId: RequestId; name: string; password: Base64 };
    result: WriteResult;
  };
  'user.unlock': { request: { requestId: RequestId; name: string }; result: WriteResult };
  'user.list': {
    request: { after?: string; limit?: number };
    result: { users: UserInfo[]; more: boolean };
  };
  'policy.get': { request: {}; result: Policy };
  'policy.set': { request: Policy & { requestId: RequestId }; result: WriteResult };
  'key.generate': { request: KeyAttributes; result: { key: KeyInfo } & WriteResult };
  'key.import': {
    request: KeyAttributes & { material: Base64 };
    result: { key: KeyInfo } & WriteResult;
  };
  'key.export': { request: { name: string }; result: { material: Base64; keyType: KeyType } };
  'key.publicKey': { request: { name: string }; result: { publicKey: Base64 } };
  'key.remove': { request: { name: string; requestId?: RequestId }; result: WriteResult };
  'key.list': {
    request: { owner?: string; after?: string; limit?: number };
    result: { keys: KeyInfo[]; more: boolean };
  };
  'write.outcome': { request: { requestId: RequestId }; result: WriteOutcomeResult };
  'key.grant': {
    request: {
      requestId: RequestId;
      name: string;
      user: string;
      use: boolean;
      export: boolean;
      remove: boolean;
    };
    result: WriteResult;
  };
  sign: { request: { name: string; message: Base64 }; result: { signature: Base64 } };
  verify: {
    request: { name: string; message: Base64; signature: Base64 };
    result: { valid: boolean };
  };
  encrypt: {
    request: { name: string; plaintext: Base64; aad?: Base64 };
    result: { ciphertext: Base64 };
  };
  decrypt: {
    request: { name: string; ciphertext: Base64; aad?: Base64 };
    result: { plaintext: Base64 };
  };
  mac: { request: { name: string; message: Base64 }; result: { mac: Base64 } };
  'mac.verify': {
    request: { name: string; message: Base64; mac: Base64 };
    result: { valid: boolean };
  };
}

export type RequestType = keyof RequestMap;
export type RequestOf<T extends RequestType> = { readonly type: T } & RequestMap[T]['request'];
export type ResultOf<T extends RequestType> = RequestMap[T]['result'];
export type ServiceRequest = { [T in RequestType]: RequestOf<T> }[RequestType];

export type ServiceResponse<T extends RequestType = RequestType> =
  | { readonly code: 0; readonly result: ResultOf<T> }
  | { readonly code: number; readonly name: string; readonly message: string };

/** A request frame: `id` pairs it with its response (the client may have several in flight). */
export interface RequestFrame {
  readonly id: number;
  readonly request: ServiceRequest;
}

/** `id` is null when the frame it answers had no readable id. */
export interface ResponseFrame {
  readonly id: number | null;
  readonly response: ServiceResponse;
}

/** Requests that need no login. */
export const UNAUTHENTICATED_TYPES: ReadonlySet<RequestType> = new Set([
  'ping',
  'login.start',
  'login.finish',
  'logout',
]);

// ---- validation ----

type FieldSpec =
  | { readonly kind: 'text'; readonly lengthMax: number }
  | { readonly kind: 'name' }
  | { readonly kind: 'requestId' }
  | { readonly kind: 'keyType' }
  | { readonly kind: 'boolean' }
  /** `max` of a named limit (LIST_PAGE_SIZE_MAX): over it is INPUT_TOO_LARGE, not malformed. */
  | { readonly kind: 'integer'; readonly min: number; readonly max: number; readonly limit?: true }
  | { readonly kind: 'bytes'; readonly sizeMax: number };

type Spec = FieldSpec & { readonly optional?: true };

const text = (lengthMax: number): Spec => ({ kind: 'text', lengthMax });
const bytes = (sizeMax: number, optional?: true): Spec => ({ kind: 'bytes', sizeMax, optional });
const NAME: Spec = { kind: 'name' };
const OPTIONAL_NAME: Spec = { kind: 'name', optional: true };
const REQUEST_ID: Spec = { kind: 'requestId' };
const BOOLEAN: Spec = { kind: 'boolean' };
const PAGE_LIMIT: Spec = {
  kind: 'integer',
  min: 1,
  max: LIST_PAGE_SIZE_MAX,
  limit: true,
  optional: true,
};
const KEY_ATTRIBUTES = {
  name: NAME,
  keyType: { kind: 'keyType' },
  exportable: BOOLEAN,
  temporary: BOOLEAN,
  requestId: { kind: 'requestId', optional: true },
} as const satisfies Record<string, Spec>;

/** Every field of every request; the compiler checks each request field has a spec. */
const SCHEMAS: {
  readonly [T in RequestType]: { readonly [K in keyof RequestMap[T]['request']]-?: Spec };
} = {
  ping: {},
  'login.start': { clientFirst: text(1024) },
  'login.finish': { clientFinal: text(1024) },
  logout: {},
  'user.create': {
    requestId: REQUEST_ID,
    name: NAME,
    password: bytes(SEALED_SIZE_MAX),
    admin: BOOLEAN,
  },
  'user.delete': { requestId: REQUEST_ID, name: NAME },
  'user.password': { requestId: REQUEST_ID, name: NAME, password: bytes(SEALED_SIZE_MAX) },
  'user.unlock': { requestId: REQUEST_ID, name: NAME },
  'user.list': { after: OPTIONAL_NAME, limit: PAGE_LIMIT },
  'policy.get': {},
  'policy.set': {
    requestId: REQUEST_ID,
    minPasswordLength: { kind: 'integer', min: 4, max: 64 },
    maxFailedLogins: { kind: 'integer', min: 1, max: 255 },
    keyExportAllowed: BOOLEAN,
    sessionTimeoutSeconds: { kind: 'integer', min: 1, max: SESSION_TIMEOUT_SECONDS_MAX },
  },
  'key.generate': KEY_ATTRIBUTES,
  'key.import': { ...KEY_ATTRIBUTES, material: bytes(SEALED_SIZE_MAX) },
  'key.export': { name: NAME },
  'key.publicKey': { name: NAME },
  'key.remove': { name: NAME, requestId: { kind: 'requestId', optional: true } },
  'key.list': { owner: OPTIONAL_NAME, after: OPTIONAL_NAME, limit: PAGE_LIMIT },
  'write.outcome': { requestId: REQUEST_ID },
  'key.grant': {
    requestId: REQUEST_ID,
    name: NAME,
    user: NAME,
    use: BOOLEAN,
    export: BOOLEAN,
    remove: BOOLEAN,
  },
  sign: { name: NAME, message: bytes(CRYPTO_INPUT_SIZE_MAX) },
  verify: {
    name: NAME,
    message: bytes(CRYPTO_INPUT_SIZE_MAX),
    signature: bytes(SIGNATURE_SIZE_MAX),
  },
  encrypt: { name: NAME, plaintext: bytes(CRYPTO_INPUT_SIZE_MAX), aad: bytes(AAD_SIZE_MAX, true) },
  decrypt: { name: NAME, ciphertext: bytes(CIPHERTEXT_SIZE_MAX), aad: bytes(AAD_SIZE_MAX, true) },
  mac: { name: NAME, message: bytes(CRYPTO_INPUT_SIZE_MAX) },
  'mac.verify': { name: NAME, message: bytes(CRYPTO_INPUT_SIZE_MAX), mac: bytes(MAC_SIZE_MAX) },
};

/** Base64 fields arrive decoded; everything else as sent. */
type DecodeField<F> = F extends Base64 ? Uint8Array : F;
export type Decoded<T extends RequestType> = { readonly type: T } & {
  readonly [K in keyof RequestMap[T]['request']]: DecodeField<RequestMap[T]['request'][K]>;
};
export type DecodedRequest = { [T in RequestType]: Decoded<T> }[RequestType];

function malformed(detail: string): HsmError {
  return new HsmError(CODE.MALFORMED_REQUEST, detail);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks one field; returns its value (bytes decoded). Throws the field's documented code. */
function checkField(field: string, spec: FieldSpec, value: unknown): unknown {
  switch (spec.kind) {
    case 'text':
      if (typeof value !== 'string') throw malformed(`${field}: expected a string`);
      if (value.length > spec.lengthMax)
        throw new HsmError(CODE.INPUT_TOO_LARGE, `${field}: at most ${spec.lengthMax} characters`);
      return value;
    case 'name':
      if (typeof value !== 'string') throw malformed(`${field}: expected a name (string)`);
      if (!NAME_PATTERN.test(value))
        throw new HsmError(
          CODE.INVALID_OBJ_NAME,
          `${field}: 1 to ${NAME_LENGTH_MAX} characters of [A-Za-z0-9_.@-]`,
        );
      return value;
    case 'requestId':
      if (!isRequestId(value)) throw malformed(`${field}: expected 32 lowercase hex digits`);
      return value;
    case 'keyType':
      if (typeof value !== 'string' || !(KEY_TYPES as readonly string[]).includes(value))
        throw malformed(`${field}: expected one of ${KEY_TYPES.join(', ')}`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw malformed(`${field}: expected true or false`);
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value))
        throw malformed(`${field}: expected an integer`);
      if (value > spec.max && spec.limit)
        throw new HsmError(CODE.INPUT_TOO_LARGE, `${field}: at most ${spec.max}`);
      if (value < spec.min || value > spec.max)
        throw malformed(`${field}: expected ${spec.min}..${spec.max}`);
      return value;
    case 'bytes': {
      if (typeof value !== 'string') throw malformed(`${field}: expected base64 text`);
      if (value.length > Math.ceil(spec.sizeMax / 3) * 4)
        throw new HsmError(CODE.INPUT_TOO_LARGE, `${field}: at most ${spec.sizeMax} bytes`);
      const decoded = fromBase64(value);
      if (!decoded) throw malformed(`${field}: not canonical base64`);
      if (decoded.length > spec.sizeMax)
        throw new HsmError(CODE.INPUT_TOO_LARGE, `${field}: at most ${spec.sizeMax} bytes`);
      return decoded;
    }
  }
}

/** An untrusted value as a typed request, or the documented code of what is wrong with it. */
export function parseRequest(value: unknown): DecodedRequest {
  if (!isRecord(value)) throw malformed('a request is a JSON object');
  const type = value.type;
  if (typeof type !== 'string' || !Object.hasOwn(SCHEMAS, type))
    throw malformed(`unknown request type ${JSON.stringify(type)?.slice(0, 40)}`);
  const schema = SCHEMAS[type as RequestType] as Record<string, Spec>;
  const out: Record<string, unknown> = { type };
  for (const field of Object.keys(value)) {
    if (field !== 'type' && !Object.hasOwn(schema, field))
      throw malformed(`${type}: unknown field '${field.slice(0, 40)}'`);
  }
  for (const [field, spec] of Object.entries(schema)) {
    const present = Object.hasOwn(value, field) && value[field] !== undefined;
    if (!present) {
      if (!spec.optional) throw malformed(`${type}: missing field '${field}'`);
      continue;
    }
    out[field] = checkField(field, spec, value[field]);
  }
  return out as DecodedRequest;
}

export type ParsedFrame =
  | { readonly id: number; readonly request: DecodedRequest }
  | { readonly id: number | null; readonly error: HsmError };

/** A frame's text as its id and request, or as the error to answer (with the id when readable). */
export function parseRequestFrame(frame: string): ParsedFrame {
  if (frame.length > FRAME_SIZE_MAX)
    return {
      id: null,
      error: new HsmError(CODE.INPUT_TOO_LARGE, `a frame is at most ${FRAME_SIZE_MAX} characters`),
    };
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame);
  } catch {
    return { id: null, error: malformed('a frame is not valid JSON') };
  }
  const id =
    isRecord(parsed) && Number.isSafeInteger(parsed.id) && (parsed.id as number) >= 0
      ? (parsed.id as number)
      : null;
  if (
    id === null ||
    !isRecord(parsed) ||
    Object.keys(parsed).some((key) => key !== 'id' && key !== 'request')
  ) {
    return { id, error: malformed('a frame is {"id": non-negative integer, "request": {...}}') };
  }
  try {
    return { id, request: parseRequest(parsed.request) };
  } catch (error) {
    return { id, error: error instanceof HsmError ? error : malformed(String(error)) };
  }
}

/** What a console command answers (the local and the remote console alike). */
export interface ConsoleResult {
  /** 0, or the documented return code of the failure. */
  readonly code: number;
  /** Structured output (what --json prints). */
  readonly data: unknown;
  /** What a person reads. */
  readonly text: string;
}
