// Logging in: SCRAM (scram.ts) against the user's stored verifier, and the failed-login lock
// count. Nothing tells an unknown user from a wrong password: an unknown user gets a
// server-first built from made-up but stable credentials (derived from the SVMK and the name,
// so asking twice gives the same salt), both fail with AUTH_FAILED, and both answer at once —
// the replicated lock-count write runs after the reply, never before it, so its latency
// cannot tell that the user exists. The node counts the failure locally first, so the lock
// holds here even while the pool is busy and the write waits. USER_LOCKED is told only to a
// client that proved the password.

import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError, writeOutcome } from '../core/codes.ts';
import { deriveKey } from '../core/keys.ts';
import { utf8, type UserRecord } from '../core/records.ts';
import { SALT_SIZE, type NodeContext } from './context.ts';
import { keyBytes } from '../wire/crypto-engine.ts';
import { NAME_PATTERN, type Decoded, type ResultOf } from '../wire/messages.ts';
import { ScramServer, parseClientFirst, type ScramCredentials } from '../wire/scram.ts';
import type { Session } from './session.ts';
import { SessionChannel } from '../wire/session-channel.ts';
import { equalBytes } from '../wire/bytes.ts';
import { OldestFirst } from '../wire/oldest-first.ts';

/** Users whose failures wait to be recorded in the pool (only while the pool stays busy). */
export const PENDING_FAILURE_USERS_MAX = 4096;
/** The lock count is one byte in the record (docs/FORMATS.md). */
const FAILED_LOGINS_MAX = 255;

const unknownUserKeys = new WeakMap<NodeContext, Uint8Array>();

function unknownUserCredentials(node: NodeContext, name: string): ScramCredentials {
  let key = unknownUserKeys.get(node);
  if (!key)
    unknownUserKeys.set(node, (key = deriveKey(node.backend.svmk, 'scram-unknown-user', 32)));
  const derive = (label: string): Uint8Array => hmac(sha256, key!, utf8(`${label}\0${name}`));
  return {
    kdf: node.kdf,
    salt: derive('salt').slice(0, SALT_SIZE),
    storedKey: derive('stored-key'),
    serverKey: derive('server-key'),
  };
}

/** A lock-count write submitted and not answered yet: it may already be in the store. */
interface InFlightCount {
  readonly counted: number;
  /** The record's token when the write was built: while the store still shows it, the write
   * has not committed and its failures count on top; once it changed, they are in the store. */
  readonly base: Uint8Array | undefined;
}

/** Login events another component may hook (the audit log of logins is the operator's, issue 15). */
export interface LoginEvents {
  /** A login.finish was answered: `user` as claimed, `result` 'ok', 'failed' or 'locked'. */
  onLogin?(event: {
    readonly user: string;
    readonly known: boolean;
    readonly result: 'ok' | 'failed' | 'locked';
    readonly console: boolean;
  }): void;
}

/** The lock count as this node knows it: recorded in the pool, plus failures not yet recorded. */
export class FailedLogins {
  private readonly pending = new Map<string, number>();
  private readonly pendingOldest = new OldestFirst(this.pending);
  private readonly inFlight = new Map<string, InFlightCount>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly node: NodeContext) {}

  /** Exact under concurrency: a failure is counted once whether its write is pending, in
   * flight, committed but not answered yet, or recorded. */
  count(user: UserRecord): number {
    return user.failedLogins + (this.pending.get(user.name) ?? 0) + this.unseen(user.name);
  }

  /** The failures of an in-flight write that the store does not show yet. */
  private unseen(name: string): number {
    const inFlight = this.inFlight.get(name);
    if (!inFlight) return 0;
    return equalTokens(this.node.token('user', name), inFlight.base) ? inFlight.counted : 0;
  }

  /** Counts a failure now and records it in the pool in the background. */
  noteFailure(user: UserRecord, maxFailedLogins: number): void {
    if (this.count(user) >= Math.min(maxFailedLogins, FAILED_LOGINS_MAX)) return; // locked already: nothing to add
    const pending = (this.pending.get(user.name) ?? 0) + 1;
    this.pending.delete(user.name); // re-inserted last, so the oldest is evicted first
    this.pending.set(user.name, pending);
    this.pendingOldest.trimTo(PENDING_FAILURE_USERS_MAX);
    this.enqueue(user.name, () => this.record(user.name));
  }

  /** A successful login clears the count (in the background; the login does not wait). */
  noteSuccess(user: UserRecord): void {
    const hadPending = this.pending.delete(user.name);
    if (user.failedLogins > 0 || hadPending)
      this.enqueue(user.name, async () => {
        await this.write(user.name, () => 0);
      });
  }

  /** An administrator's unlock wrote the count: forget the local part. */
  forget(name: string): void {
    this.pending.delete(name);
    this.inFlight.delete(name);
  }

  /** Resolves when every background write has been answered. */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.all(this.chains.values());
  }

  /** One write at a time per user, in order. */
  private enqueue(name: string, step: () => Promise<void>): void {
    const chain = (this.chains.get(name) ?? Promise.resolve()).then(step).catch(() => undefined);
    this.chains.set(name, chain);
    void chain.then(() => {
      if (this.chains.get(name) === chain) this.chains.delete(name);
    });
  }

  private async record(name: string): Promise<void> {
    // An earlier write whose outcome stayed unknown and that never showed: fold it in (this
    // write is conditional on the same record, so at most one of them commits).
    const counted = (this.pending.get(name) ?? 0) + this.unseen(name);
    this.inFlight.delete(name);
    if (counted === 0) return;
    const user = this.node.user(name);
    if (!user) {
      this.pending.delete(name);
      return;
    }
    const base = this.node.token('user', name);
    const failedLogins = Math.min(FAILED_LOGINS_MAX, user.failedLogins + counted);
    this.pending.delete(name);
    this.inFlight.set(name, { counted, base });
    let unknown = false;
    try {
      await this.node.submit(
        this.node.newRequestId(),
        'SET_USR_LOCK_COUNT',
        [{ op: 'replace', record: this.node.encode({ ...user, failedLogins }), expected: base }],
        name,
        name,
      );
    } catch (error) {
      // Not committed: count them again as pending (the next failure or success writes them).
      // Unknown: leave the write in flight; the store tells whether it took effect.
      unknown = error instanceof HsmError && writeOutcome(error.code) === 'unknown';
      if (!unknown && this.inFlight.has(name))
        this.pending.set(name, (this.pending.get(name) ?? 0) + counted);
    }
    if (!unknown) this.inFlight.delete(name);
  }

  private async write(name: string, next: (current: number) => number): Promise<boolean> {
    const user = this.node.user(name);
    if (!user) return true;
    const failedLogins = next(user.failedLogins);
    if (failedLogins === user.failedLogins) return true;
    const record = this.node.encode({ ...user, failedLogins });
    const expected = this.node.token('user', name);
    try {
      // Conditional: a password change or unlock that committed meanwhile wins (38209), and
      // the count is written again from the fresh record on the next attempt.
      await this.node.submit(
        this.node.newRequestId(),
        'SET_USR_LOCK_COUNT',
        [{ op: 'replace', record, expected }],
        name,
        name,
      );
      return true;
    } catch {
      return false;
    }
  }
}

function equalTokens(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return equalBytes(a, b);
}

export function loginStart(
  node: NodeContext,
  session: Session,
  request: Decoded<'login.start'>,
): ResultOf<'login.start'> {
  session.reset();
  const first = parseClientFirst(request.clientFirst);
  if (!first)
    throw new HsmError(
      CODE.MALFORMED_REQUEST,
      'clientFirst: expected "n,,n=<user>,r=<nonce>" (RFC 5802)',
    );
  const record = NAME_PATTERN.test(first.user) ? node.user(first.user) : undefined;
  const credentials = record ?? unknownUserCredentials(node, first.user);
  const server = ScramServer.start(first, node.newNonce(), credentials);
  session.login = { step: 'challenged', server, known: record !== undefined };
  return { serverFirst: server.serverFirst };
}

export function loginFinish(
  node: NodeContext,
  failures: FailedLogins,
  session: Session,
  request: Decoded<'login.finish'>,
  events: LoginEvents = {},
): ResultOf<'login.finish'> {
  if (session.login.step !== 'challenged')
    throw new HsmError(CODE.NOT_AUTHENTICATED, 'login.finish without login.start');
  const { server, known } = session.login;
  session.reset(); // one attempt per challenge
  session.lastLoginResult = undefined;
  const outcome = server.finish(request.clientFinal);
  if (outcome.result === 'malformed')
    throw new HsmError(
      CODE.MALFORMED_REQUEST,
      'clientFinal: expected "c=biws,r=<nonce>,p=<proof>" with the nonce of server-first',
    );
  const user = known ? node.user(server.user) : undefined;
  const policy = node.policy();
  const tell = (result: 'ok' | 'failed' | 'locked'): void => {
    session.lastLoginResult = result;
    events.onLogin?.({
      user: server.user,
      known: user !== undefined,
      result,
      console: session.console,
    });
  };
  if (!user) {
    tell('failed');
    throw new HsmError(CODE.AUTH_FAILED);
  }
  // A locked account answers every attempt alike, the right password included: the lock stops
  // guesses instead of confirming them, and an unknown user cannot be told from a locked one.
  if (failures.count(user) >= policy.maxFailedLogins) {
    tell('locked');
    throw new HsmError(CODE.AUTH_FAILED);
  }
  if (outcome.result === 'wrong-proof') {
    failures.noteFailure(user, policy.maxFailedLogins);
    tell('failed');
    throw new HsmError(CODE.AUTH_FAILED);
  }
  failures.noteSuccess(user);
  tell('ok');
  session.login = {
    step: 'authenticated',
    user: user.name,
    sessionKey: keyBytes(outcome.sessionKey),
  };
  // Every frame after this reply is sealed under keys derived from the session key.
  session.channelNext = new SessionChannel(outcome.sessionKey, 'node', node.engine.chacha);
  return {
    serverFinal: outcome.serverFinal,
    user: user.name,
    admin: user.admin,
    sessionTimeoutSeconds: policy.sessionTimeoutSeconds,
  };
}
