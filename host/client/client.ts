// The SDK applications use: `HsmClient.connect({ nodes, user, password, connections })`.
// A load-balancing list of up to 16 nodes of one pool. Reads (sign, verify, encrypt, decrypt,
// MAC, export, list) go round-robin across the nodes; writes stay on one node while it works
// (fewer competing coordinators, so fewer busy answers). A node that fails is skipped for
// `nodeRetryAfterMs` and the request goes to the next; when every node has failed the call
// fails with ALL_NODES_FAILED (-18); so does a node that answers it was fenced (38502) or has
// stopped (37028). Busy answers (36000–36004, 5304) are retried with full
// jitter exponential backoff, at most `busyRetriesMax` times. Every write carries a request id
// (drawn once per call, 16 random bytes, or the caller's own) reused on every retry, on any
// node: the pool answers a retry with the original outcome, so a write whose reply was lost is
// never applied twice. A write whose outcome the SDK could not learn (an attempt sent without a
// definite answer) fails with WRITE_OUTCOME_UNKNOWN (1006, carrying the request id), never with a
// busy code; `outcome(requestId)` asks the pool later. Every failure is an HsmError.
//
// Temporary keys live in one node's session: the client remembers where, sends their
// operations there, and reports TEMPORARY_KEY_LOST if that session ends.

import { CODE, HsmError } from '../core/codes.ts';
import type { AclEntry, KeyType } from '../core/records.ts';
import type { CryptoEngine } from '../wire/crypto-engine.ts';
import { fromBase64, toHex } from '../wire/bytes.ts';
import { isRequestId } from '../wire/ids.ts';
import {
  encodeBytes,
  type KeyInfo,
  type Policy,
  type RequestType,
  type ResultOf,
  type UserInfo,
} from '../wire/messages.ts';
import { pooledSecureRandom } from '../wire/random.ts';
import { DEFAULT_KDF_LIMITS } from '../wire/scram.ts';
import { keyContext, seal, unseal } from '../wire/wrapping.ts';
import { Calls, type Attempt, type RequestOf, type Route } from './calls.ts';
import { defaultConnections, defaultEngine } from './default-connections.ts';
import { NodeLink } from './node-link.ts';
import {
  boundedInteger,
  checkName,
  CLIENT_NODES_MAX,
  invalid,
  retryPolicyOf,
  type HsmClientOptions,
  type KeyOptions,
  type NodeStatus,
  type WriteOptions,
  type WriteOutcomeReport,
} from './options.ts';

interface Temporary {
  readonly link: NodeLink;
  readonly generation: number;
  readonly info: KeyInfo;
}

/** What generateKey and importKey send alike, the name checked. */
function keyFields(name: string, keyType: KeyType, options: KeyOptions) {
  checkName(name);
  const temporary = options.temporary ?? false;
  return { name, keyType, exportable: options.exportable ?? false, temporary };
}

export class HsmClient {
  private readonly links: NodeLink[];
  private readonly calls: Calls;
  private readonly credentials: { user: string; password: string };
  private readonly saltedPasswords = new Map<string, Promise<Uint8Array>>();
  private readonly temporaries = new Map<string, Temporary>();
  private readonly randomBytes: (length: number) => Uint8Array;
  private readonly engine: CryptoEngine;

  private constructor(options: HsmClientOptions) {
    if (
      !Array.isArray(options.nodes) ||
      options.nodes.length < 1 ||
      options.nodes.length > CLIENT_NODES_MAX
    ) {
      throw invalid(`nodes: 1 to ${CLIENT_NODES_MAX} addresses`);
    }
    if (new Set(options.nodes).size !== options.nodes.length)
      throw invalid('nodes: an address appears twice');
    checkName(options.user, 'user');
    if (typeof options.password !== 'string' || options.password.length === 0)
      throw invalid('password: a non-empty string');
    const retry = retryPolicyOf(options.retry);
    const nodeRetryAfterMs = boundedInteger(
      options.nodeRetryAfterMs ?? 5000,
      0,
      3_600_000,
      'nodeRetryAfterMs',
    );
    this.randomBytes = options.randomBytes ?? pooledSecureRandom();
    this.engine = options.engine ?? defaultEngine();
    this.credentials = { user: options.user, password: options.password };
    const environment = {
      connections: options.connections ?? defaultConnections(),
      credentials: this.credentials,
      kdfLimits: { ...DEFAULT_KDF_LIMITS, ...options.kdfLimits },
      requestTimeoutMs: boundedInteger(
        options.requestTimeoutMs ?? 30_000,
        1,
        3_600_000,
        'requestTimeoutMs',
      ),
      engine: this.engine,
      randomBytes: this.randomBytes,
      saltedPasswords: this.saltedPasswords,
    };
    this.links = options.nodes.map((address) => new NodeLink(address, environment));
    this.calls = new Calls({
      links: this.links,
      retry,
      loadBalancing: options.loadBalancing ?? true,
      nodeRetryAfterMs,
      randomBytes: this.randomBytes,
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      now: options.now ?? (() => Date.now()),
    });
  }

  /** Logs in on one node of the list (the others when first used); fails like any call. */
  static async connect(options: HsmClientOptions): Promise<HsmClient> {
    const client = new HsmClient(options);
    await client.calls.perform<'ping'>({ kind: 'write' }, () => ({ type: 'ping' }));
    return client;
  }

  /** Closes every connection; the client cannot be used afterwards. */
  close(): void {
    this.calls.close();
  }

  nodes(): NodeStatus[] {
    return this.links.map((link) => ({ address: link.address, downUntilMs: link.downUntilMs }));
  }

  // ---- keys ----

  async generateKey(name: string, keyType: KeyType, options: KeyOptions = {}): Promise<KeyInfo> {
    const fields = keyFields(name, keyType, options);
    return this.createKey(fields, options, () => ({ type: 'key.generate', ...fields }));
  }

  /** Imports key material (docs/CLIENT.md, "Key types"); it crosses sealed under the session key. */
  async importKey(
    name: string,
    keyType: KeyType,
    material: Uint8Array,
    options: KeyOptions = {},
  ): Promise<KeyInfo> {
    const fields = keyFields(name, keyType, options);
    if (!(material instanceof Uint8Array)) throw invalid('material: a Uint8Array');
    return this.createKey(fields, options, async (attempt) => {
      const sealed = await seal(
        this.engine,
        attempt.session.sessionKey,
        'key-import',
        keyContext(name, keyType),
        material,
        this.randomBytes(12),
      );
      return { type: 'key.import', ...fields, material: encodeBytes(sealed) };
    });
  }

  private async createKey(
    fields: { name: string; temporary: boolean },
    options: WriteOptions,
    build: (
      attempt: Attempt,
    ) =>
      RequestOf<'key.generate' | 'key.import'> | Promise<RequestOf<'key.generate' | 'key.import'>>,
  ): Promise<KeyInfo> {
    const requestId = this.requestIdOf(options, !fields.temporary);
    if (fields.temporary) {
      const { result, attempt } = await this.calls.perform<'key.generate'>(
        { kind: 'read' },
        build as (attempt: Attempt) => Promise<RequestOf<'key.generate'>>,
      );
      this.temporaries.set(fields.name, {
        link: attempt.link,
        generation: attempt.session.generation,
        info: result.key,
      });
      return result.key;
    }
    const { result } = await this.calls.perform<'key.generate'>(
      { kind: 'write' },
      async (attempt) => ({ ...(await build(attempt)), requestId }) as RequestOf<'key.generate'>,
      requestId,
    );
    this.temporaries.delete(fields.name);
    return result.key;
  }

  /** The key material of an exportable key (it crosses sealed under the session key). */
  async exportKey(name: string): Promise<Uint8Array> {
    checkName(name);
    const { result, attempt } = await this.calls.perform<'key.export'>(this.routeFor(name), () => ({
      type: 'key.export',
      name,
    }));
    return unseal(
      this.engine,
      attempt.session.sessionKey,
      'key-export',
      keyContext(name, result.keyType),
      this.bytes(result.material),
    );
  }

  /** P-256: uncompressed SEC1 (65 bytes); Ed25519: 32 bytes; RSA-2048: SPKI DER. */
  async publicKey(name: string): Promise<Uint8Array> {
    checkName(name);
    const { result } = await this.calls.perform<'key.publicKey'>(this.routeFor(name), () => ({
      type: 'key.publicKey',
      name,
    }));
    return this.bytes(result.publicKey);
  }

  async removeKey(name: string, options: WriteOptions = {}): Promise<void> {
    checkName(name);
    const temporary = this.temporaries.get(name);
    const requestId = this.requestIdOf(options, !temporary);
    if (temporary) {
      this.temporaries.delete(name);
      try {
        await this.calls.perform<'key.remove'>(this.routeFor(name, temporary), () => ({
          type: 'key.remove',
          name,
        }));
      } catch (error) {
        if (!(error instanceof HsmError && error.code === CODE.TEMPORARY_KEY_LOST)) throw error;
      }
      return;
    }
    await this.write<'key.remove'>(requestId, () => ({ type: 'key.remove', name, requestId }));
  }

  /** Persistent keys the user owns or is granted (an administrator may name another owner). One page. */
  async listKeys(
    options: { owner?: string; after?: string; limit?: number } = {},
  ): Promise<{ keys: KeyInfo[]; more: boolean }> {
    if (options.owner !== undefined) checkName(options.owner, 'owner');
    if (options.after !== undefined) checkName(options.after, 'after');
    const { result } = await this.calls.perform<'key.list'>({ kind: 'read' }, () => ({
      type: 'key.list',
      ...options,
    }));
    return { keys: result.keys.filter((key) => !key.temporary), more: result.more };
  }

  /** This client's temporary keys (each lives in one node session). */
  temporaryKeys(): KeyInfo[] {
    return [...this.temporaries.values()].map((entry) => entry.info);
  }

  /** Sets `user`'s rights on a key you own; all false revokes. */
  async grant(
    name: string,
    user: string,
    rights: Partial<Omit<AclEntry, 'user'>>,
    options: WriteOptions = {},
  ): Promise<void> {
    checkName(name);
    checkName(user, 'user');
    const requestId = this.requestIdOf(options);
    const fields = {
      name,
      user,
      use: rights.use ?? false,
      export: rights.export ?? false,
      remove: rights.remove ?? false,
    };
    await this.write<'key.grant'>(requestId, () => ({ type: 'key.grant', requestId, ...fields }));
  }

  // ---- operations (served by any node) ----

  async sign(name: string, message: Uint8Array): Promise<Uint8Array> {
    const { result } = await this.use<'sign'>(name, () => ({
      type: 'sign',
      name,
      message: this.encode(message, 'message'),
    }));
    return this.bytes(result.signature);
  }

  async verify(name: string, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const fields = {
      name,
      message: this.encode(message, 'message'),
      signature: this.encode(signature, 'signature'),
    };
    return (await this.use<'verify'>(name, () => ({ type: 'verify', ...fields }))).result.valid;
  }

  /** AES-GCM: returns nonce (12) || ciphertext || tag (16). */
  async encrypt(name: string, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
    const fields = {
      name,
      plaintext: this.encode(plaintext, 'plaintext'),
      aad: aad === undefined ? undefined : this.encode(aad, 'aad'),
    };
    return this.bytes(
      (await this.use<'encrypt'>(name, () => ({ type: 'encrypt', ...fields }))).result.ciphertext,
    );
  }

  async decrypt(name: string, ciphertext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
    const fields = {
      name,
      ciphertext: this.encode(ciphertext, 'ciphertext'),
      aad: aad === undefined ? undefined : this.encode(aad, 'aad'),
    };
    return this.bytes(
      (await this.use<'decrypt'>(name, () => ({ type: 'decrypt', ...fields }))).result.plaintext,
    );
  }

  async mac(name: string, message: Uint8Array): Promise<Uint8Array> {
    return this.bytes(
      (
        await this.use<'mac'>(name, () => ({
          type: 'mac',
          name,
          message: this.encode(message, 'message'),
        }))
      ).result.mac,
    );
  }

  async verifyMac(name: string, message: Uint8Array, mac: Uint8Array): Promise<boolean> {
    const fields = { name, message: this.encode(message, 'message'), mac: this.encode(mac, 'mac') };
    return (await this.use<'mac.verify'>(name, () => ({ type: 'mac.verify', ...fields }))).result
      .valid;
  }

  private use<T extends RequestType>(
    name: string,
    build: () => RequestOf<T>,
  ): Promise<{ result: ResultOf<T>; attempt: Attempt }> {
    checkName(name);
    return this.calls.perform<T>(this.routeFor(name), build);
  }

  // ---- users and policy ----

  async createUser(
    name: string,
    password: string,
    options: { admin?: boolean } & WriteOptions = {},
  ): Promise<void> {
    checkName(name);
    const requestId = this.requestIdOf(options);
    await this.write<'user.create'>(requestId, async (attempt) => ({
      type: 'user.create',
      requestId,
      name,
      admin: options.admin ?? false,
      password: await this.sealPassword(attempt, name, password),
    }));
  }

  async deleteUser(name: string, options: WriteOptions = {}): Promise<void> {
    checkName(name);
    const requestId = this.requestIdOf(options);
    await this.write<'user.delete'>(requestId, () => ({ type: 'user.delete', requestId, name }));
  }

  /** Changes a password: your own, or (administrators) another user's. */
  async changePassword(
    newPassword: string,
    user = this.credentials.user,
    options: WriteOptions = {},
  ): Promise<void> {
    checkName(user, 'user');
    const requestId = this.requestIdOf(options);
    await this.write<'user.password'>(requestId, async (attempt) => ({
      type: 'user.password',
      requestId,
      name: user,
      password: await this.sealPassword(attempt, user, newPassword),
    }));
    if (user === this.credentials.user) {
      this.credentials.password = newPassword; // later logins (other nodes, reconnects) use it
      this.saltedPasswords.clear();
    }
  }

  async unlockUser(name: string, options: WriteOptions = {}): Promise<void> {
    checkName(name);
    const requestId = this.requestIdOf(options);
    await this.write<'user.unlock'>(requestId, () => ({ type: 'user.unlock', requestId, name }));
  }

  async listUsers(
    options: { after?: string; limit?: number } = {},
  ): Promise<{ users: UserInfo[]; more: boolean }> {
    if (options.after !== undefined) checkName(options.after, 'after');
    return (
      await this.calls.perform<'user.list'>({ kind: 'read' }, () => ({
        type: 'user.list',
        ...options,
      }))
    ).result;
  }

  async policy(): Promise<Policy> {
    return (
      await this.calls.perform<'policy.get'>({ kind: 'read' }, () => ({ type: 'policy.get' }))
    ).result;
  }

  async setPolicy(policy: Policy, options: WriteOptions = {}): Promise<void> {
    const requestId = this.requestIdOf(options);
    const { minPasswordLength, maxFailedLogins, keyExportAllowed, sessionTimeoutSeconds } = policy;
    await this.write<'policy.set'>(requestId, () => ({
      type: 'policy.set',
      requestId,
      minPasswordLength,
      maxFailedLogins,
      keyExportAllowed,
      sessionTimeoutSeconds,
    }));
  }

  // ---- outcomes ----

  /**
   * What the pool knows of a write by its request id (the one a WRITE_OUTCOME_UNKNOWN error
   * carries, or your own). Asks the nodes in turn until one remembers the outcome; see
   * WriteOutcomeReport for what each state allows you to conclude. ALL_NODES_FAILED when no
   * node answered.
   */
  async outcome(requestId: string): Promise<WriteOutcomeReport> {
    if (!isRequestId(requestId)) throw invalid('requestId: 32 lowercase hex digits');
    return this.calls.outcome(requestId);
  }

  /** A replicated write under `requestId`, which `build` puts in every attempt's request. */
  private write<T extends RequestType>(
    requestId: string,
    build: (attempt: Attempt) => RequestOf<T> | Promise<RequestOf<T>>,
  ): Promise<{ result: ResultOf<T>; attempt: Attempt }> {
    return this.calls.perform<T>({ kind: 'write' }, build, requestId);
  }

  private routeFor(name: string, temporary = this.temporaries.get(name)): Route {
    return temporary
      ? { kind: 'pinned', link: temporary.link, generation: temporary.generation }
      : { kind: 'read' };
  }

  /** The caller's request id (checked), or a new one (none for a write that is not replicated). */
  private requestIdOf(options: WriteOptions, replicated = true): string {
    if (options.requestId === undefined) return replicated ? toHex(this.randomBytes(16)) : '';
    if (!isRequestId(options.requestId)) throw invalid('requestId: 32 lowercase hex digits');
    return options.requestId;
  }

  private async sealPassword(
    attempt: Attempt,
    user: string,
    password: string,
  ): Promise<ReturnType<typeof encodeBytes>> {
    if (typeof password !== 'string') throw invalid('password: a string');
    const sealed = await seal(
      this.engine,
      attempt.session.sessionKey,
      'password',
      user,
      new TextEncoder().encode(password),
      this.randomBytes(12),
    );
    return encodeBytes(sealed);
  }

  private encode(bytes: Uint8Array, what: string): ReturnType<typeof encodeBytes> {
    if (!(bytes instanceof Uint8Array)) throw invalid(`${what}: a Uint8Array`);
    return encodeBytes(bytes);
  }

  private bytes(text: string): Uint8Array {
    const decoded = typeof text === 'string' ? fromBase64(text) : undefined;
    if (!decoded)
      throw new HsmError(CODE.PROTOCOL_ERROR, 'a reply carried bytes that are not base64');
    return decoded;
  }
}
