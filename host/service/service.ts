// The HSM service of one node: sessions, and `handle(session, request)` for every request of
// protocol.ts. Every failure is a response with a documented code; a failed request changes
// nothing in the pool and leaves the session as it was (the login steps excepted: a failed
// login.finish leaves the session logged out, which is what it was).

import { CODE, HsmError } from '../core/codes.ts';
import type { KdfParameters, UserRecord } from '../core/records.ts';
import type { ServiceBackend } from './backend.ts';
import { NodeContext, PRODUCTION_KDF, type RequestContext } from './context.ts';
import { CryptoEngine, type ChaChaAead, type Sha256Hasher } from '../wire/crypto-engine.ts';
import * as keys from './keys.ts';
import { FailedLogins, loginFinish, loginStart, type LoginEvents } from './login.ts';
import {
  UNAUTHENTICATED_TYPES,
  parseRequest,
  parseRequestFrame,
  type Decoded,
  type DecodedRequest,
  type RequestType,
  type ResultOf,
  type ServiceResponse,
} from '../wire/messages.ts';
import { Session } from './session.ts';
import * as users from './users.ts';

/** Requests that submit a replicated write. */
const WRITE_TYPES: ReadonlySet<RequestType> = new Set<RequestType>([
  'user.create',
  'user.delete',
  'user.password',
  'user.unlock',
  'policy.set',
  'key.generate',
  'key.import',
  'key.remove',
  'key.grant',
]);

/** Sessions one node serves at once; one more gets SERVER_BUSY. */
export const SESSIONS_MAX = 1024;

export interface ServiceOptions {
  /** Which implementations run the crypto (default: WebCrypto where present). */
  readonly engine?: CryptoEngine;
  /** Password hashing for new verifiers (default PRODUCTION_KDF; tests pass a cheap one). */
  readonly kdf?: KdfParameters;
  /** Hooks for login outcomes (an audit log); never told a password or proof. */
  readonly events?: LoginEvents;
}

type Handler<T extends RequestType> = (
  context: RequestContext,
  request: Decoded<T>,
) => Promise<ResultOf<T>> | ResultOf<T>;
type AuthenticatedType = Exclude<RequestType, 'ping' | 'login.start' | 'login.finish' | 'logout'>;

export class Service {
  private readonly node: NodeContext;
  private readonly failures: FailedLogins;
  private readonly sessions = new Set<Session>();
  private nextSessionId = 1;
  private readonly handlers: { readonly [T in AuthenticatedType]: Handler<T> };

  constructor(
    readonly backend: ServiceBackend,
    private readonly options: ServiceOptions = {},
  ) {
    this.node = new NodeContext(
      backend,
      options.engine ?? new CryptoEngine(),
      options.kdf ?? PRODUCTION_KDF,
    );
    this.failures = new FailedLogins(this.node);
    const failures = this.failures;
    this.handlers = {
      'user.create': users.createUser,
      'user.delete': users.deleteUser,
      'user.password': users.changePassword,
      'user.unlock': (context, request) => users.unlockUser(context, failures, request),
      'user.list': (context, request) => users.listUsers(context, failures, request),
      'policy.get': users.getPolicy,
      'policy.set': users.setPolicy,
      'key.generate': keys.generateKey,
      'key.import': keys.importKey,
      'key.export': keys.exportKey,
      'key.publicKey': keys.publicKey,
      'key.remove': keys.removeKey,
      'key.list': keys.listKeys,
      'key.grant': keys.grantKey,
      'write.outcome': (context, request) => writeOutcome(context, request.requestId),
      sign: keys.signMessage,
      verify: keys.verifySignature,
      encrypt: keys.encryptMessage,
      decrypt: keys.decryptMessage,
      mac: keys.macMessage,
      'mac.verify': keys.verifyMac,
    };
  }

  /** A new session (one per client connection). SERVER_BUSY when SESSIONS_MAX are open.
   * `console`: the operator's console session, served even by a fenced or diverged node. */
  openSession(options: { readonly console?: boolean } = {}): Session {
    if (this.sessions.size >= SESSIONS_MAX)
      throw new HsmError(CODE.SERVER_BUSY, `${SESSIONS_MAX} sessions open`);
    const session = new Session(this.nextSessionId++, this.backend.now(), options.console);
    this.sessions.add(session);
    return session;
  }

  /** Ends a session: its temporary keys are dropped. */
  closeSession(session: Session): void {
    session.reset();
    this.sessions.delete(session);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The ChaCha20-Poly1305 its sessions seal with (node:crypto's in Node, noble elsewhere). */
  get chacha(): ChaChaAead {
    return this.node.engine.chacha;
  }

  /** A new incremental SHA-256 (node:crypto's in Node, noble elsewhere). */
  sha256(): Sha256Hasher {
    return this.node.engine.sha256();
  }

  /** Answers one request (an untrusted value: it is validated here). */
  async handle(session: Session, request: unknown): Promise<ServiceResponse> {
    return this.answer(session, () => parseRequest(request));
  }

  /** Answers one JSON frame ({"id", "request"}) with a JSON frame ({"id", "response"}). */
  async handleFrame(session: Session, frame: string): Promise<string> {
    const parsed = parseRequestFrame(frame);
    const response = await this.answer(session, () => {
      if ('error' in parsed) throw parsed.error;
      return parsed.request;
    });
    return JSON.stringify({ id: parsed.id, response });
  }

  /**
   * The local console's `unlock USER`: clears the failed-login count, whoever holds the lock —
   * the recovery path of a locked-out sole administrator (docs/SECURITY.md). Terminal access
   * to a node is the credential; the write is replicated like user.unlock.
   */
  async unlockFromConsole(name: string): Promise<void> {
    const user = this.node.user(name);
    if (!user) throw new HsmError(CODE.CANNOT_OPEN_OBJ, `user '${name}'`);
    this.failures.forget(name);
    if (user.failedLogins === 0) return;
    await this.node.submit(
      this.node.newRequestId(),
      'SET_USR_LOCK_COUNT',
      [
        {
          op: 'replace',
          record: this.node.encode({ ...user, failedLogins: 0 }),
          expected: this.node.token('user', name),
        },
      ],
      '(local console)',
      name,
    );
  }

  /** Resolves when the lock-count writes started by logins have been answered (tests, shutdown). */
  settled(): Promise<void> {
    return this.failures.settled();
  }

  private async answer(session: Session, request: () => DecodedRequest): Promise<ServiceResponse> {
    try {
      return { code: 0, result: await this.dispatch(session, request()) };
    } catch (error) {
      return errorResponse(error);
    }
  }

  private async dispatch(
    session: Session,
    request: DecodedRequest,
  ): Promise<ResultOf<RequestType>> {
    if (!this.sessions.has(session))
      throw new HsmError(CODE.SESSION_EXPIRED, 'the session is closed');
    if (UNAUTHENTICATED_TYPES.has(request.type)) session.lastActivityMs = this.backend.now();
    // A fenced or diverged node's store may hold keys removed and passwords changed since: no
    // login, read or write for clients (the SDK fails over on these codes). A console session
    // logs in, and an administrator's goes on working, so an operator can inspect and fix it.
    const refusal =
      request.type === 'ping' || request.type === 'logout' ? 0 : (this.backend.serving?.() ?? 0);
    if (refusal !== 0 && !session.console) refuseStale(refusal, request.type);
    switch (request.type) {
      case 'ping':
        return {};
      case 'login.start':
        return loginStart(this.node, session, request);
      case 'login.finish':
        return loginFinish(this.node, this.failures, session, request, this.options.events);
      case 'logout':
        session.reset();
        return {};
    }
    const context = this.authenticate(session);
    if (refusal !== 0 && !context.user.admin) refuseStale(refusal, request.type);
    const handler = this.handlers[request.type] as Handler<AuthenticatedType>;
    return handler(context, request as Decoded<AuthenticatedType>);
  }

  /** The logged-in user of a session, after the checks every request passes (idle timeout,
   * deleted user): the remote console's commands go through these too. */
  sessionUser(session: Session): UserRecord {
    if (!this.sessions.has(session))
      throw new HsmError(CODE.SESSION_EXPIRED, 'the session is closed');
    return this.authenticate(session).user;
  }

  /** The session's user as the store holds it now; ends a session that idled too long or whose user is gone. */
  private authenticate(session: Session): RequestContext {
    const login = session.login;
    if (login.step !== 'authenticated') throw new HsmError(CODE.NOT_AUTHENTICATED);
    const now = this.backend.now();
    const idleMs = now - session.lastActivityMs;
    if (idleMs > this.node.policy().sessionTimeoutSeconds * 1000) {
      session.reset();
      throw new HsmError(CODE.SESSION_EXPIRED, `idle for ${Math.round(idleMs / 1000)} s`);
    }
    const user = this.node.user(login.user);
    if (!user) {
      session.reset();
      throw new HsmError(CODE.SESSION_EXPIRED, `user '${login.user}' was deleted`);
    }
    session.lastActivityMs = now;
    return { node: this.node, session, user, sessionKey: login.sessionKey };
  }
}

/** The refusal of a fenced (38503) or diverged (38504) node; a fenced node's writes keep their
 * own code (38502, the replica's), given before the handler reads the stale store. */
function refuseStale(refusal: number, type: RequestType): never {
  if (refusal === CODE.NODE_FENCED_NO_READS && WRITE_TYPES.has(type))
    throw new HsmError(CODE.NODE_FENCED, 'this node was declared down: it takes no writes');
  throw new HsmError(refusal);
}

/** Codes an outcome query answers as errors: the node cannot tell the outcome (yet). */
const NO_OUTCOME: ReadonlySet<number> = new Set([
  CODE.WRITE_OUTCOME_PENDING,
  CODE.REQUEST_ID_UNKNOWN,
  CODE.NODE_FENCED,
  CODE.CANNOT_WORK,
  CODE.REPLICATION_BUSY,
]);

/** A write's remembered outcome (any logged-in user: request ids are 128-bit random). */
async function writeOutcome(
  context: RequestContext,
  requestId: string,
): Promise<ResultOf<'write.outcome'>> {
  const reply = await context.node.backend.outcome(requestId);
  if (NO_OUTCOME.has(reply.code)) throw new HsmError(reply.code, `request ${requestId}`);
  return reply.txid === undefined ? { code: reply.code } : { code: reply.code, txid: reply.txid };
}

function errorResponse(error: unknown): ServiceResponse {
  const failure =
    error instanceof HsmError
      ? error
      : new HsmError(CODE.INTERNAL_ERROR, error instanceof Error ? error.message : String(error));
  return { code: failure.code, name: failure.codeName, message: failure.detail };
}
