// What every handler of one node shares: typed reads of the node's key store, the replicated
// write path, the wrapping key, the cache of unwrapped keys, randomness.

import type { EventType, Operation } from '../core/batch.ts';
import { CODE, HsmError } from '../core/codes.ts';
import { deriveKey } from '../core/keys.ts';
import type {
  KdfParameters,
  ObjectRecord,
  PolicyRecord,
  RecordKind,
  StoreRecord,
  UserRecord,
} from '../core/records.ts';
import type { ServiceBackend } from './backend.ts';
import { keyBytes, type CryptoEngine, type KeyBytes } from '../wire/crypto-engine.ts';
import { toBase64, toHex } from '../wire/bytes.ts';
import { loadKey } from './key-material.ts';
import type { Policy, WriteResult } from '../wire/messages.ts';
import type { Session } from './session.ts';
import { unwrapObjectKey } from '../wire/wrapping.ts';
import { OldestFirst } from '../wire/oldest-first.ts';

/** The policy until an administrator sets one (the bootstrap writes it too). */
export const DEFAULT_POLICY: Policy = {
  minPasswordLength: 8,
  maxFailedLogins: 5,
  keyExportAllowed: true,
  sessionTimeoutSeconds: 900,
};

/**
 * Password hashing for new verifiers in production: PBKDF2-HMAC-SHA-256 with OWASP's 600,000
 * iterations — standard SCRAM-SHA-256 (RFC 7677), native WebCrypto in browsers and Node (about
 * 13× faster than pure JavaScript: bench/results/crypto.json), paid once per client connect.
 * scrypt verifiers are supported too (`{ kdf: 'scrypt', log2N: 15, r: 8, p: 3 }` is OWASP's
 * equivalent) but run in JavaScript on both sides. Tests use 4096 iterations, RFC 7677's minimum.
 */
export const PRODUCTION_KDF: KdfParameters = { kdf: 'pbkdf2-sha256', iterations: 600_000 };

/** Salt of a new verifier (the record allows 16..64 bytes). */
export const SALT_SIZE = 16;

/** Unwrapped keys kept per node (an HSM keeps its working keys in memory). */
export const LOADED_KEYS_MAX = 1024;

export class NodeContext {
  readonly wrapKey: KeyBytes;
  private readonly loaded = new Map<string, { wrapped: Uint8Array; key: Promise<KeyBytes> }>();
  private readonly loadedOldest = new OldestFirst(this.loaded);

  constructor(
    readonly backend: ServiceBackend,
    readonly engine: CryptoEngine,
    readonly kdf: KdfParameters,
  ) {
    this.wrapKey = keyBytes(deriveKey(backend.svmk, 'key-wrap', 32));
  }

  // ---- reads ----

  private read<R extends StoreRecord>(kind: RecordKind, name: string): R | undefined {
    const bytes = this.backend.core.get(kind, name);
    return bytes ? (this.backend.core.decode(bytes) as R) : undefined;
  }

  user(name: string): UserRecord | undefined {
    return this.read<UserRecord>('user', name);
  }

  object(name: string): ObjectRecord | undefined {
    return this.read<ObjectRecord>('object', name);
  }

  recordBytes(kind: RecordKind, name: string): Uint8Array | undefined {
    return this.backend.core.get(kind, name);
  }

  /**
   * The stored record's value h(r): a replace built from a read passes it as `expected`, so
   * the pool refuses it (38209) if another write changed the record meanwhile, instead of
   * silently undoing that write. Take it in the same step as the read.
   */
  token(kind: RecordKind, name: string): Uint8Array | undefined {
    const bytes = this.backend.core.get(kind, name);
    return bytes ? this.backend.core.recordToken(bytes) : undefined;
  }

  policy(): Policy {
    return this.read<PolicyRecord>('policy', 'pool') ?? DEFAULT_POLICY;
  }

  hasPolicyRecord(): boolean {
    return this.backend.core.get('policy', 'pool') !== undefined;
  }

  users(): UserRecord[] {
    return this.backend.core
      .list('user')
      .map((bytes) => this.backend.core.decode(bytes) as UserRecord);
  }

  objects(): ObjectRecord[] {
    return this.backend.core
      .list('object')
      .map((bytes) => this.backend.core.decode(bytes) as ObjectRecord);
  }

  encode(record: StoreRecord): Uint8Array {
    return this.backend.core.encode(record);
  }

  // ---- writes ----

  /** A replicated write; throws the pool's code unless it committed. */
  async submit(
    requestId: string,
    event: EventType,
    operations: readonly Operation[],
    sourceUser: string,
    target: string,
  ): Promise<WriteResult> {
    let reply;
    try {
      reply = await this.backend.submit({
        kind: 'write',
        requestId,
        event,
        operations,
        sourceUser,
        target,
      });
    } catch (error) {
      // The node's replication layer failed: whether the write took effect is unknown here, so
      // the client must retry it elsewhere with the same request id — CANNOT_WORK tells it to.
      if (error instanceof HsmError) throw error;
      throw new HsmError(
        CODE.CANNOT_WORK,
        `replication: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (reply.code !== 0) throw new HsmError(reply.code, `${event} ${target}`);
    return reply.txid === undefined ? {} : { txid: reply.txid };
  }

  /** A request id for a write the node makes by itself (lock counts). */
  newRequestId(): string {
    return toHex(this.backend.randomBytes(16));
  }

  /** A SCRAM nonce: 18 random bytes as base64 (24 printable characters, no commas). */
  newNonce(): string {
    return toBase64(this.backend.randomBytes(18));
  }

  // ---- stored keys ----

  /** The usable key of a stored object, unwrapped once and cached while its record is unchanged. */
  loadObjectKey(object: ObjectRecord): Promise<KeyBytes> {
    const cached = this.loaded.get(object.name);
    this.loaded.delete(object.name); // re-inserted last: the map's order is least recently used first
    if (cached && sameBytes(cached.wrapped, object.wrapped)) {
      this.loaded.set(object.name, cached);
      return cached.key;
    }
    const entry = { wrapped: object.wrapped, key: this.unwrapAndLoad(object) };
    entry.key.catch(() => {
      if (this.loaded.get(object.name) === entry) this.loaded.delete(object.name);
    });
    this.loaded.set(object.name, entry);
    this.loadedOldest.trimTo(LOADED_KEYS_MAX);
    return entry.key;
  }

  forgetObjectKey(name: string): void {
    this.loaded.delete(name);
  }

  private async unwrapAndLoad(object: ObjectRecord): Promise<KeyBytes> {
    const material = await unwrapObjectKey(
      this.engine,
      this.wrapKey,
      object.name,
      object.keyType,
      object.wrapped,
    );
    return loadKey(this.engine, object.keyType, material);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One authenticated request: the node, the session, the user as the store holds it now. */
export interface RequestContext {
  readonly node: NodeContext;
  readonly session: Session;
  readonly user: UserRecord;
  readonly sessionKey: KeyBytes;
}
