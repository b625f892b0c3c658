// The key-store records as TypeScript values. Encoding and validation happen in the core
// (assembly/codec.ts); these are the shapes the host hands it and gets back.

export type KdfParameters =
  | { readonly kdf: 'scrypt'; readonly log2N: number; readonly r: number; readonly p: number }
  | { readonly kdf: 'pbkdf2-sha256'; readonly iterations: number };

export interface UserRecord {
  readonly kind: 'user';
  readonly name: string;
  readonly admin: boolean;
  /** Failed logins since the last success (the lock count). */
  readonly failedLogins: number;
  readonly kdf: KdfParameters;
  readonly salt: Uint8Array;
  /** SCRAM StoredKey (32 bytes). */
  readonly storedKey: Uint8Array;
  /** SCRAM ServerKey (32 bytes). */
  readonly serverKey: Uint8Array;
}

export const KEY_TYPES = [
  'aes-128',
  'aes-256',
  'hmac-sha256',
  'ec-p256',
  'ed25519',
  'rsa-2048',
  // Round 2 (issue 15): appended, never renumbered — the record stores index + 1.
  'aes-192',
  'rsa-3072',
  'rsa-4096',
  'ec-p384',
  'ec-p521',
  'ec-secp256k1',
  'x25519',
  'ed448',
  'cmac-aes-128',
  'cmac-aes-256',
  'hmac-sha384',
  'hmac-sha512',
] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const KEY_BITS: Readonly<Record<KeyType, number>> = {
  'aes-128': 128,
  'aes-256': 256,
  'hmac-sha256': 256,
  'ec-p256': 256,
  ed25519: 256,
  'rsa-2048': 2048,
  'aes-192': 192,
  'rsa-3072': 3072,
  'rsa-4096': 4096,
  'ec-p384': 384,
  'ec-p521': 521,
  'ec-secp256k1': 256,
  x25519: 256,
  ed448: 448,
  'cmac-aes-128': 128,
  'cmac-aes-256': 256,
  'hmac-sha384': 384,
  'hmac-sha512': 512,
};

export interface AclEntry {
  readonly user: string;
  readonly use: boolean;
  readonly export: boolean;
  readonly remove: boolean;
}

export interface ObjectRecord {
  readonly kind: 'object';
  readonly name: string;
  readonly keyType: KeyType;
  readonly exportable: boolean;
  readonly temporary: boolean;
  readonly owner: string;
  /** Sorted by user name when encoded. The owner never appears here. */
  readonly acl: readonly AclEntry[];
  /** Key material wrapped under the SVMK-derived key: never plaintext. */
  readonly wrapped: Uint8Array;
}

export interface PolicyRecord {
  readonly kind: 'policy';
  readonly name: 'pool';
  readonly minPasswordLength: number;
  readonly maxFailedLogins: number;
  readonly keyExportAllowed: boolean;
  readonly sessionTimeoutSeconds: number;
}

export type StoreRecord = UserRecord | ObjectRecord | PolicyRecord;
export type RecordKind = StoreRecord['kind'];

export const KIND_NUMBER: Readonly<Record<RecordKind, number>> = { user: 1, object: 2, policy: 3 };
export const KIND_OF_NUMBER: readonly (RecordKind | undefined)[] = [
  undefined,
  'user',
  'object',
  'policy',
];

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
export const utf8 = (text: string): Uint8Array => textEncoder.encode(text);
export const fromUtf8 = (bytes: Uint8Array): string => textDecoder.decode(bytes);

/** Bytewise order of names, the order the core keeps (ACLs, snapshots). */
export function compareNameBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
