// Client sessions and the remote console on a running appliance. Each /client or /console
// connection gets a Service session (SCRAM login, then requests as JSON frames,
// docs/CLIENT.md). A /console connection also takes `console.run` frames, answered by the
// console command set for a logged-in administrator (5002 for anyone else).

import { CODE, HsmError } from '../core/codes.ts';
import { runCommand, type ConsoleContext } from './console-commands.ts';
import type { ServiceBackend } from '../service/backend.ts';
import type { Service } from '../service/service.ts';
import type { Session } from '../service/session.ts';
import { openIncoming, sealOutgoing } from '../wire/session-channel.ts';
import { POLICY_VIOLATION } from '../transport/connection-limits.ts';
import {
  ConnectionGuard,
  DEFAULT_GUARD_LIMITS,
  REAL_TIMERS,
  type GuardLimits,
  type GuardTimers,
} from './connection-guard.ts';
import type { ClientConnection, ClientPath } from '../transport/transport.ts';
import type { NodeHost } from '../appliance/node-host.ts';
import type { Appliance } from '../appliance/appliance.ts';

/** The service's backend over a node: reads from its key store, writes through the pool. Both
 * follow the node's current appliance (a live-sync in place replaces it). */
export function applianceBackend(
  node: { readonly appliance: Appliance },
  svmk: Uint8Array,
  randomBytes: (length: number) => Uint8Array,
  now: () => number,
): ServiceBackend {
  return {
    get core() {
      return node.appliance.core;
    },
    svmk,
    serving: () => servingCode(node.appliance.runtime.replica),
    submit: ({ kind: _kind, ...write }) => node.appliance.write(write),
    outcome: (requestId) => node.appliance.outcome(requestId),
    randomBytes,
    now,
  };
}

/** 0 while the node may serve clients; 38503 once it knows it was declared down, 38504 once it
 * knows its state diverged (until a live-sync replaces the appliance, and with it the replica). */
export function servingCode(replica: {
  readonly fenced: boolean;
  readonly diverged: boolean;
}): number {
  if (replica.fenced) return CODE.NODE_FENCED_NO_READS;
  if (replica.diverged) return CODE.NODE_DIVERGED;
  return 0;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

interface ConsoleFrame {
  readonly id: number;
  readonly line: string;
}

/** A `{"id", "request": {"type": "console.run", "line"}}` frame, or undefined. */
function consoleFrame(text: string): ConsoleFrame | undefined {
  if (!text.includes('"console.run"')) return undefined;
  try {
    const frame = JSON.parse(text) as {
      id?: unknown;
      request?: { type?: unknown; line?: unknown };
    };
    if (
      frame.request?.type !== 'console.run' ||
      typeof frame.request.line !== 'string' ||
      !Number.isSafeInteger(frame.id)
    )
      return undefined;
    return { id: frame.id as number, line: frame.request.line };
  } catch {
    return undefined;
  }
}

/** A request answered on a client or console session (metrics, the audit log). Never carries
 * secrets: only the request type, the names it acts on, who, from where and the return code. */
export interface RequestEvent {
  /** The request type (`key.generate`, `login.finish`…), or `console` for a console command. */
  readonly type: string;
  readonly code: number;
  /** The logged-in user, or for a login the name it tried. */
  readonly user: string | undefined;
  /** The client's address, host:port. */
  readonly from: string;
  /** The key or user the request names. */
  readonly target?: string;
  /** key.grant: the user granted. */
  readonly grantee?: string;
  /** A console command: its words (console commands carry no secrets). */
  readonly command?: string;
  /** login.finish: what it was (a locked account answers like a wrong password). */
  readonly loginResult?: 'ok' | 'failed' | 'locked';
}
export type RequestObserver = (event: RequestEvent) => void;

const REQUEST_TYPE = /"type"\s*:\s*"([a-zA-Z.]{1,32})"/;
const RESPONSE_CODE = /"code"\s*:\s*(\d{1,10})/;
const NAME_FIELD = /"name"\s*:\s*"([^"\\]{1,128})"/;
const USER_FIELD = /"user"\s*:\s*"([^"\\]{1,128})"/;
/** SCRAM's client-first message names the user: `n,,n=NAME,r=…`. */
const SCRAM_USER = /n=([^,"\\]{1,128}),r=/;

export class SessionServer {
  /** The name each session's login attempt gave (for a failed login's audit entry). */
  private readonly logins = new WeakMap<Session, string>();

  constructor(
    private readonly node: NodeHost,
    private readonly service: Service,
    /** Per-connection limits (connection-guard.ts); tests pass their own timers. */
    private readonly guard: { limits?: GuardLimits; timers?: GuardTimers } = {},
    private readonly observers: readonly RequestObserver[] = [],
    /** What the remote console offers beyond the appliance (the audit log). */
    private readonly consoleExtras: Pick<ConsoleContext, 'audit'> = {},
  ) {}

  /** Open client and console sessions. */
  get sessions(): number {
    return this.service.sessionCount;
  }

  attach(path: ClientPath, connection: ClientConnection): void {
    let session: Session;
    // Live-sync in place is refused once a client logged in here (37033); the remote console
    // does not count, nor does a client this node refused (a fenced node refuses logins, and
    // the SDK keeps trying it: those attempts must not block the live-sync that brings it back).
    let counted = path !== '/client';
    try {
      session = this.service.openSession({ console: path === '/console' });
    } catch (error) {
      connection.close(1013, error instanceof HsmError ? error.codeName : 'busy');
      return;
    }
    connection.onClose(() => this.service.closeSession(session));
    const guard = new ConnectionGuard(
      connection,
      this.guard.limits ?? DEFAULT_GUARD_LIMITS,
      this.guard.timers ?? REAL_TIMERS,
    );
    connection.onMessage((bytes) => {
      // Opened in arrival order (sealed frames carry a counter); a refused frame ends the connection.
      const incoming = openIncoming(session, decoder.decode(bytes));
      if ('refusal' in incoming) {
        connection.send(encoder.encode(incoming.refusal));
        connection.close(POLICY_VIOLATION, new HsmError(incoming.code).codeName);
        return;
      }
      if (!guard.admit(session.user !== undefined)) return;
      // A handler that fails answers with a code; it must never take the node down.
      this.answer(path, session, incoming.text, connection.remoteAddress)
        .then((reply) => {
          if (!counted && session.user !== undefined) {
            counted = true;
            this.node.clientConnections++;
          }
          return reply;
        })
        .catch((error: unknown) =>
          JSON.stringify({
            id: null,
            response: {
              code: CODE.OPERATION_FAILED,
              message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
            },
          }),
        )
        .then((reply) => {
          // Sealed as it leaves, so counters follow the order on the wire.
          connection.send(encoder.encode(sealOutgoing(session, reply)));
          guard.replied(session.user !== undefined);
        });
    });
  }

  private notify(event: RequestEvent): void {
    for (const observe of this.observers) observe(event);
  }

  private async answer(
    path: ClientPath,
    session: Session,
    text: string,
    from: string,
  ): Promise<string> {
    const command = path === '/console' ? consoleFrame(text) : undefined;
    if (!command) {
      const reply = await this.service.handleFrame(session, text);
      if (this.observers.length > 0) {
        const type = REQUEST_TYPE.exec(text)?.[1] ?? 'unknown';
        const tried = this.logins.get(session);
        if (type === 'login.start') this.logins.set(session, SCRAM_USER.exec(text)?.[1] ?? '?');
        this.notify({
          type,
          code: Number(RESPONSE_CODE.exec(reply)?.[1] ?? 0),
          user: session.user ?? (type === 'login.finish' ? tried : undefined),
          from,
          target: NAME_FIELD.exec(text)?.[1],
          loginResult: type === 'login.finish' ? session.lastLoginResult : undefined,
          grantee: type === 'key.grant' ? USER_FIELD.exec(text)?.[1] : undefined,
        });
      }
      return reply;
    }
    const code = this.adminCheck(session);
    const audit = (result: number): void =>
      this.notify({
        type: 'console',
        code: result,
        user: session.user,
        from,
        command: command.line.trim().slice(0, 256),
      });
    if (code !== 0) audit(code);
    if (code !== 0)
      return JSON.stringify({
        id: command.id,
        response: { code, message: new HsmError(code).detail },
      });
    const result = await runCommand(this.node.appliance, 'remote', command.line, {
      backup: {
        svmk: this.service.backend.svmk,
        aead: this.service.chacha,
        sha256: () => this.service.sha256(),
      },
      liveSync: (target) => this.node.liveSync(target),
      sessions: () => this.service.sessionCount,
      ...this.consoleExtras,
    });
    audit(result.code);
    return JSON.stringify({ id: command.id, response: { code: 0, result } });
  }

  /** 0 for a logged-in administrator; otherwise the code to refuse with. The session checks
   * of every request apply (idle timeout, deleted user): 38704 for an expired session. */
  private adminCheck(session: Session): number {
    if (!session.user) return CODE.ACCESS_DENIED;
    try {
      return this.service.sessionUser(session).admin ? 0 : CODE.ACCESS_DENIED;
    } catch (error) {
      return error instanceof HsmError ? error.code : CODE.ACCESS_DENIED;
    }
  }
}
