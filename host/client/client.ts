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

import { CODE, HsmError, writeOutcome } from '../core/codes.ts';
import type { AclEntry, KeyType } from '../core/records.ts';
import { CryptoEngine } from '../wire/crypto-engine.ts';
import { fromBase64, toHex } from '../wire/bytes.ts';
import {
  NAME_PATTERN,
  encodeBytes,
  type KeyInfo,
  type Policy,
  type RequestMap,
  type RequestType,
  type ResultOf,
  type ServiceRequest,
  type UserInfo,
} from '../wire/messages.ts';
import { secureRandomBytes } from '../wire/random.ts';
import { DEFAULT_KDF_LIMITS, type KdfLimits } from '../wire/scram.ts';
import { keyContext, seal, unseal } from '../wire/wrapping.ts';
import { defaultConnections } from './default-connections.ts';
import type { ConnectionFactory } from './connection.ts';
import { NODE_STALE_CODES, NodeLink, isNodeFailure, type LinkSession } from './node-link.ts';
import { isRequestId } from '../wire/ids.ts';

/** Nodes in one load-balancing list (DINAMO's limit). */
export const CLIENT_NODES_MAX = 16;
/** The most busy retries a caller may configure, and the longest backoff. */
export const BUSY_RETRIES_LIMIT = 100;
export const BACKOFF_LIMIT_MS = 60_000;
const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  CODE.REPLICATION_BUSY,
  CODE.REPLICATION_D_BUSY,
  CODE.REPLICATION_S_BUSY,
  CODE.REPLICATION_STORAGE_LAYER_BUSY,
  CODE.REPLICATION_SEC_LAYER_BUSY,
  CODE.SERVER_BUSY,
]);
/** Answers meaning "this node cannot serve you, another can": fenced by node-down (38502 for
 * writes, 38503 for reads), diverged (38504), or stopped. */
const NODE_GONE_CODES: ReadonlySet<number> = new Set([
  CODE.NODE_FENCED,
  CODE.CANNOT_WORK,
  ...NODE_STALE_CODES,
]);
/** Node answers to an outcome query that carry no outcome. */
const NO_OUTCOME_HERE: ReadonlySet<number> = new Set([
  CODE.NODE_FENCED,
  CODE.CANNOT_WORK,
  CODE.REPLICATION_BUSY,
  ...NODE_STALE_CODES,
]);
/** A session that expired is renewed once per call, then the failure is reported. */
const SESSION_RENEWALS_MAX = 1;

export interface RetryPolicy {
  /** Retries of a busy answer per call (0..BUSY_RETRIES_LIMIT). */
  readonly busyRetriesMax: number;
  /** The first backoff's upper bound; it doubles per retry up to backoffMaxMs. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  busyRetriesMax: 8,
  backoffBaseMs: 25,
  backoffMaxMs: 2000,
};

export interface HsmClientOptions {
  /** Node addresses, 1..16, as the connection factory understands them. */
  readonly nodes: readonly string[];
  readonly user: string;
  readonly password: string;
  /** How to reach a node; default: WebSocket (default-connections.ts). */
  readonly connections?: ConnectionFactory;
  /** false: DINAMO's "bypass load balancing" — use the first node that works, in list order. */
  readonly loadBalancing?: boolean;
  readonly retry?: Partial<RetryPolicy>;
  /** A reply later than this fails the node (NET_TIMEOUT). Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** How long a failed node is skipped. Default 5 s. */
  readonly nodeRetryAfterMs?: number;
  /** Password-hashing parameters the client accepts from a node (a node cannot make it hash too little). */
  readonly kdfLimits?: Partial<KdfLimits>;
  readonly randomBytes?: (length: number) => Uint8Array;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly engine?: CryptoEngine;
}

/** Options of every persistent write. */
export interface WriteOptions {
  /**
   * The write's request id, 32 lowercase hex digits (default: 16 random bytes). Send the same
   * write again with the same id after WRITE_OUTCOME_UNKNOWN: it runs at most once, and the
   * retry gets the original outcome.
   */
  readonly requestId?: string;
}

export interface KeyOptions extends WriteOptions {
  readonly exportable?: boolean;
  readonly temporary?: boolean;
}

/** What the pool knows of a write (`client.outcome`, docs/CLIENT.md "Outcomes"). */
export interface WriteOutcomeReport {
  readonly requestId: string;
  /**
   * committed: code 0, in transaction txid. not committed: it ran and failed with `code`
   * (nothing changed; the pool remembers that answer). pending: queued or in a transaction
   * on some node, not known yet. unknown: no node that answered knows it or holds it: it has
   * not committed so far (a node that did not answer may still hold it), and sending it again
   * with the same request id is safe (it runs at most once).
   */
  readonly state: 'committed' | 'not committed' | 'pending' | 'unknown';
  readonly code?: number;
  readonly txid?: string;
}

/** WRITE_OUTCOME_UNKNOWN (1006): the write may or may not have committed; `requestId` names it. */
export class WriteOutcomeUnknownError extends HsmError {
  constructor(
    readonly requestId: string,
    detail: string,
  ) {
    super(CODE.WRITE_OUTCOME_UNKNOWN, `request ${requestId}: ${detail}`);
  }
}

export interface NodeStatus {
  readonly address: string;
  /** Skipped until this time (client clock, ms); 0 when healthy. */
  readonly downUntilMs: number;
}

interface Attempt {
  readonly link: NodeLink;
  readonly session: LinkSession;
}

type Route =
  | { readonly kind: 'read' | 'write' }
  | { readonly kind: 'pinned'; readonly link: NodeLink; readonly generation: number };

type RequestOf<T extends RequestType> = { readonly type: T } & RequestMap[T]['request'];

interface Temporary {
  readonly link: NodeLink;
  readonly generation: number;
  readonly info: KeyInfo;
}

function invalid(detail: string): HsmError {
  return new HsmError(CODE.INVALID_PARAM, detail);
}

function checkName(name: string, what = 'name'): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name))
    throw new HsmError(CODE.INVALID_OBJ_NAME, `${what}: 1 to 32 characters of [A-Za-z0-9_.@-]`);
}

function boundedInteger(value: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw invalid(`${what}: expected an integer in ${min}..${max}`);
  return value;
}

export class HsmClient {
  private readonly links: NodeLink[];
  private readonly credentials: { user: string; password: string };
  private readonly saltedPasswords = new Map<string, Promise<Uint8Array>>();
  private readonly temporaries = new Map<string, Temporary>();
  private readonly retry: RetryPolicy;
  private readonly loadBalancing: boolean;
  private readonly nodeRetryAfterMs: number;
  private readonly randomBytes: (length: number) => Uint8Array;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly engine: CryptoEngine;
  private writeHome: NodeLink | undefined;
  private nextRead: number;
  private closed = false;

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
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    this.retry = {
      busyRetriesMax: boundedInteger(
        retry.busyRetriesMax,
        0,
        BUSY_RETRIES_LIMIT,
        'retry.busyRetriesMax',
      ),
      backoffBaseMs: boundedInteger(
        retry.backoffBaseMs,
        0,
        BACKOFF_LIMIT_MS,
        'retry.backoffBaseMs',
      ),
      backoffMaxMs: boundedInteger(retry.backoffMaxMs, 0, BACKOFF_LIMIT_MS, 'retry.backoffMaxMs'),
    };
    this.loadBalancing = options.loadBalancing ?? true;
    this.nodeRetryAfterMs = boundedInteger(
      options.nodeRetryAfterMs ?? 5000,
      0,
      3_600_000,
      'nodeRetryAfterMs',
    );
    this.randomBytes = options.randomBytes ?? secureRandomBytes;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? (() => Date.now());
    this.engine = options.engine ?? new CryptoEngine();
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
    // Clients that start together should not all land on the first node.
    this.nextRead = this.loadBalancing ? this.randomBytes(1)[0] % this.links.length : 0;
  }

  /** Logs in on one node of the list (the others when first used); fails like any call. */
  static async connect(options: HsmClientOptions): Promise<HsmClient> {
    const client = new HsmClient(options);
    await client.perform<'ping'>({ kind: 'write' }, () => ({ type: 'ping' }));
    return client;
  }

  /** Closes every connection; the client cannot be used afterwards. */
  close(): void {
    this.closed = true;
    for (const link of this.links) link.close();
  }

  nodes(): NodeStatus[] {
    return this.links.map((link) => ({ address: link.address, downUntilMs: link.downUntilMs }));
  }

  // ---- keys ----

  async generateKey(name: string, keyType: KeyType, options: KeyOptions = {}): Promise<KeyInfo> {
    checkName(name);
    const fields = {
      name,
      keyType,
      exportable: options.exportable ?? false,
      temporary: options.temporary ?? false,
    };
    const requestId = this.requestIdOf(options, !fields.temporary);
    return this.createKey(fields, requestId, () => ({ type: 'key.generate', ...fields }));
  }

  /** Imports key material (docs/CLIENT.md, "Key types"); it crosses sealed under the session key. */
  async importKey(
    name: string,
    keyType: KeyType,
    material: Uint8Array,
    options: KeyOptions = {},
  ): Promise<KeyInfo> {
    checkName(name);
    if (!(material instanceof Uint8Array)) throw invalid('material: a Uint8Array');
    const fields = {
      name,
      keyType,
      exportable: options.exportable ?? false,
      temporary: options.temporary ?? false,
    };
    const requestId = this.requestIdOf(options, !fields.temporary);
    return this.createKey(fields, requestId, async (attempt) => {
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
    requestId: string,
    build: (
      attempt: Attempt,
    ) =>
      RequestOf<'key.generate' | 'key.import'> | Promise<RequestOf<'key.generate' | 'key.import'>>,
  ): Promise<KeyInfo> {
    if (fields.temporary) {
      const { result, attempt } = await this.perform<'key.generate'>(
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
    const { result } = await this.perform<'key.generate'>(
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
    const { result, attempt } = await this.perform<'key.export'>(this.routeFor(name), () => ({
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
    const { result } = await this.perform<'key.publicKey'>(this.routeFor(name), () => ({
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
        await this.perform<'key.remove'>(this.routeFor(name, temporary), () => ({
          type: 'key.remove',
          name,
        }));
      } catch (error) {
        if (!(error instanceof HsmError && error.code === CODE.TEMPORARY_KEY_LOST)) throw error;
      }
      return;
    }
    await this.perform<'key.remove'>(
      { kind: 'write' },
      () => ({ type: 'key.remove', name, requestId }),
      requestId,
    );
  }

  /** Persistent keys the user owns or is granted (an administrator may name another owner). One page. */
  async listKeys(
    options: { owner?: string; after?: string; limit?: number } = {},
  ): Promise<{ keys: KeyInfo[]; more: boolean }> {
    if (options.owner !== undefined) checkName(options.owner, 'owner');
    if (options.after !== undefined) checkName(options.after, 'after');
    const { result } = await this.perform<'key.list'>({ kind: 'read' }, () => ({
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
    await this.perform<'key.grant'>(
      { kind: 'write' },
      () => ({ type: 'key.grant', requestId, ...fields }),
      requestId,
    );
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
    return this.perform<T>(this.routeFor(name), build);
  }

  // ---- users and policy ----

  async createUser(
    name: string,
    password: string,
    options: { admin?: boolean } & WriteOptions = {},
  ): Promise<void> {
    checkName(name);
    const requestId = this.requestIdOf(options);
    await this.perform<'user.create'>(
      { kind: 'write' },
      async (attempt) => ({
        type: 'user.create',
        requestId,
        name,
        admin: options.admin ?? false,
        password: await this.sealPassword(attempt, name, password),
      }),
      requestId,
    );
  }

  async deleteUser(name: string, options: WriteOptions = {}): Promise<void> {
    checkName(name);
    const requestId = this.requestIdOf(options);
    await this.perform<'user.delete'>(
      { kind: 'write' },
      () => ({ type: 'user.delete', requestId, name }),
      requestId,
    );
  }

  /** Changes a password: your own, or (administrators) another user's. */
  async changePassword(
    newPassword: string,
    user = this.credentials.user,
    options: WriteOptions = {},
  ): Promise<void> {
    checkName(user, 'user');
    const requestId = this.requestIdOf(options);
    await this.perform<'user.password'>(
      { kind: 'write' },
      async (attempt) => ({
        type: 'user.password',
        requestId,
        name: user,
        password: await this.sealPassword(attempt, user, newPassword),
      }),
      requestId,
    );
    if (user === this.credentials.user) {
      this.credentials.password = newPassword; // later logins (other nodes, reconnects) use it
      this.saltedPasswords.clear();
    }
  }

  async unlockUser(name: string, options: WriteOptions = {}): Promise<void> {
    checkName(name);
    const requestId = this.requestIdOf(options);
    await this.perform<'user.unlock'>(
      { kind: 'write' },
      () => ({ type: 'user.unlock', requestId, name }),
      requestId,
    );
  }

  async listUsers(
    options: { after?: string; limit?: number } = {},
  ): Promise<{ users: UserInfo[]; more: boolean }> {
    if (options.after !== undefined) checkName(options.after, 'after');
    return (
      await this.perform<'user.list'>({ kind: 'read' }, () => ({ type: 'user.list', ...options }))
    ).result;
  }

  async policy(): Promise<Policy> {
    return (await this.perform<'policy.get'>({ kind: 'read' }, () => ({ type: 'policy.get' })))
      .result;
  }

  async setPolicy(policy: Policy, options: WriteOptions = {}): Promise<void> {
    const requestId = this.requestIdOf(options);
    const { minPasswordLength, maxFailedLogins, keyExportAllowed, sessionTimeoutSeconds } = policy;
    await this.perform<'policy.set'>(
      { kind: 'write' },
      () => ({
        type: 'policy.set',
        requestId,
        minPasswordLength,
        maxFailedLogins,
        keyExportAllowed,
        sessionTimeoutSeconds,
      }),
      requestId,
    );
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
    if (this.closed) throw new HsmError(CODE.CLIENT_CLOSED);
    let pending = false;
    let unknown = false;
    let lastFailure: HsmError | undefined;
    for (const link of this.links) {
      let response;
      try {
        const session = await link.open();
        response = await link.request<'write.outcome'>(session, {
          type: 'write.outcome',
          requestId,
        });
      } catch (error) {
        if (!isNodeFailure(error)) throw error;
        lastFailure = error;
        continue;
      }
      if (response.code === 0) {
        const { code: outcomeCode, txid } = (response as { result: ResultOf<'write.outcome'> })
          .result;
        return {
          requestId,
          state: outcomeCode === 0 ? 'committed' : 'not committed',
          code: outcomeCode,
          ...(txid === undefined ? {} : { txid }),
        };
      }
      if (response.code === CODE.WRITE_OUTCOME_PENDING) pending = true;
      else if (response.code === CODE.REQUEST_ID_UNKNOWN) unknown = true;
      else if (response.code === CODE.SESSION_EXPIRED) link.endSession();
      else if (!NO_OUTCOME_HERE.has(response.code))
        throw new HsmError(response.code, 'message' in response ? response.message : undefined);
      lastFailure = new HsmError(response.code, `${link.address}`);
    }
    if (pending) return { requestId, state: 'pending' };
    if (unknown) return { requestId, state: 'unknown' };
    throw new HsmError(
      CODE.ALL_NODES_FAILED,
      `no node answered the outcome query; last: ${lastFailure?.message ?? 'none'}`,
    );
  }

  // ---- routing, retries, failover ----

  /**
   * Runs one call: picks a node, (re)opens its session, sends what `build` makes for that
   * attempt (sealed fields depend on the session), and handles failover, busy retries and
   * session renewal. `build` must reuse the call's request id on every attempt.
   *
   * `requestId`: the call is a replicated write. An attempt whose fate is unknown (sent, then
   * the connection was lost or timed out; answered "outcome pending"; the node stopped) makes
   * the call fail with WRITE_OUTCOME_UNKNOWN if it gives up, never with a busy code: that one
   * it reports only when every attempt was refused without being queued.
   */
  private async perform<T extends RequestType>(
    route: Route,
    build: (attempt: Attempt) => RequestOf<T> | Promise<RequestOf<T>>,
    requestId?: string,
  ): Promise<{ result: ResultOf<T>; attempt: Attempt }> {
    if (this.closed) throw new HsmError(CODE.CLIENT_CLOSED);
    const failed = new Set<NodeLink>();
    let busyRetries = 0;
    let renewals = 0;
    let lastFailure: HsmError | undefined;
    /** Why some attempt's fate is unknown (undefined: every attempt was refused). */
    let unknownBecause: string | undefined;
    const giveUp = (failure: HsmError): HsmError =>
      requestId !== undefined && unknownBecause !== undefined
        ? new WriteOutcomeUnknownError(
            requestId,
            `${unknownBecause}; gave up with ${failure.codeName} (${failure.code})`,
          )
        : failure;
    for (;;) {
      const link = route.kind === 'pinned' ? route.link : this.pick(route.kind, failed);
      if (!link)
        throw giveUp(
          new HsmError(
            CODE.ALL_NODES_FAILED,
            `all ${this.links.length} node(s) failed; last: ${lastFailure?.message ?? 'none'}`,
          ),
        );
      let attempt: Attempt;
      let response;
      let sent = false;
      try {
        const session = await link.open();
        if (route.kind === 'pinned' && session.generation !== route.generation)
          throw new HsmError(CODE.TEMPORARY_KEY_LOST, `${link.address}: the session was renewed`);
        attempt = { link, session };
        const request = (await build(attempt)) as ServiceRequest;
        sent = true;
        response = await link.request<T>(session, request);
      } catch (error) {
        if (!isNodeFailure(error)) throw error instanceof HsmError ? giveUp(error) : error;
        if (sent) unknownBecause ??= `sent to ${link.address}, then ${error.codeName}`;
        if (route.kind === 'pinned') throw new HsmError(CODE.TEMPORARY_KEY_LOST, error.message);
        lastFailure = error;
        this.markFailed(link, failed);
        continue;
      }
      if (response.code === 0) {
        link.downUntilMs = 0;
        if (route.kind === 'write') this.writeHome = link;
        return { result: (response as { result: ResultOf<T> }).result, attempt };
      }
      const failure = new HsmError(
        response.code,
        'message' in response ? response.message : undefined,
      );
      if (requestId !== undefined && writeOutcome(response.code) === 'unknown')
        unknownBecause ??= `${link.address} answered ${failure.codeName} (${failure.code})`;
      if (response.code === CODE.SESSION_EXPIRED) {
        link.endSession();
        if (route.kind === 'pinned') throw new HsmError(CODE.TEMPORARY_KEY_LOST, failure.message);
        if (renewals++ < SESSION_RENEWALS_MAX) continue;
      } else if (
        // WRITE_OUTCOME_PENDING: queued or in a transaction past the node's deadline; retried with
        // the same request id (the retry waits for the original) like a busy answer.
        (RETRYABLE_CODES.has(response.code) || response.code === CODE.WRITE_OUTCOME_PENDING) &&
        busyRetries < this.retry.busyRetriesMax
      ) {
        await this.sleep(this.backoffMs(busyRetries++));
        if (this.closed) throw giveUp(new HsmError(CODE.CLIENT_CLOSED));
        continue;
      } else if (NODE_GONE_CODES.has(response.code) && route.kind !== 'pinned') {
        lastFailure = failure;
        this.markFailed(link, failed);
        continue;
      }
      throw giveUp(failure);
    }
  }

  private markFailed(link: NodeLink, failed: Set<NodeLink>): void {
    failed.add(link);
    link.downUntilMs = this.now() + this.nodeRetryAfterMs;
    if (this.writeHome === link) this.writeHome = undefined;
  }

  /** The next node for a call: not failed in this call, preferably not skipped after a recent failure. */
  private pick(kind: 'read' | 'write', failed: ReadonlySet<NodeLink>): NodeLink | undefined {
    const now = this.now();
    const healthy = (link: NodeLink): boolean => !failed.has(link) && link.downUntilMs <= now;
    const untried = (link: NodeLink): boolean => !failed.has(link);
    if (!this.loadBalancing) return this.links.find(healthy) ?? this.links.find(untried);
    if (kind === 'write' && this.writeHome && healthy(this.writeHome)) return this.writeHome;
    const count = this.links.length;
    const start = kind === 'read' ? this.nextRead++ % count : this.nextRead % count;
    const order = Array.from({ length: count }, (_, i) => this.links[(start + i) % count]);
    return order.find(healthy) ?? order.find(untried);
  }

  /** Full jitter: uniform in [0, min(max, base · 2^retry)]. */
  private backoffMs(retry: number): number {
    const ceiling = Math.min(
      this.retry.backoffMaxMs,
      this.retry.backoffBaseMs * 2 ** Math.min(retry, 30),
    );
    const [a, b, c, d] = this.randomBytes(4);
    return Math.floor(((((a << 24) | (b << 16) | (c << 8) | d) >>> 0) / 2 ** 32) * (ceiling + 1));
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
