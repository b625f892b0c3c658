// Per-connection limits on a client or console connection (docs/SECURITY.md "Denial of
// service"): a login deadline and a bound on frames before login, a bound on requests in
// flight, a bound on replies the client leaves unread, and an idle close once logged in. A
// connection over a limit gets one plaintext refusal frame naming the code, then is closed —
// the node never queues without bound for a client that does not read.

import { CODE, HsmError } from '../core/codes.ts';
import {
  CONNECTION_IN_FLIGHT_MAX,
  IDLE_CLOSE_MS,
  LOGIN_DEADLINE_MS,
  POLICY_VIOLATION,
  PRE_LOGIN_FRAMES_MAX,
  REPLY_BACKLOG_BYTES_MAX,
} from '../transport/connection-limits.ts';
import type { ClientConnection } from '../transport/transport.ts';

/** setTimeout/clearTimeout, injectable so tests drive time by hand. */
export interface GuardTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const REAL_TIMERS: GuardTimers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface GuardLimits {
  readonly loginDeadlineMs: number;
  readonly preLoginFramesMax: number;
  readonly inFlightMax: number;
  readonly replyBacklogBytesMax: number;
  readonly idleCloseMs: number;
}

export const DEFAULT_GUARD_LIMITS: GuardLimits = {
  loginDeadlineMs: LOGIN_DEADLINE_MS,
  preLoginFramesMax: PRE_LOGIN_FRAMES_MAX,
  inFlightMax: CONNECTION_IN_FLIGHT_MAX,
  replyBacklogBytesMax: REPLY_BACKLOG_BYTES_MAX,
  idleCloseMs: IDLE_CLOSE_MS,
};

const encoder = new TextEncoder();

export class ConnectionGuard {
  private inFlight = 0;
  private framesBeforeLogin = 0;
  private timer: unknown;
  private closed = false;
  private loggedIn = false;

  constructor(
    private readonly connection: ClientConnection,
    private readonly limits: GuardLimits = DEFAULT_GUARD_LIMITS,
    private readonly timers: GuardTimers = REAL_TIMERS,
  ) {
    this.timer = timers.set(
      () => this.refuse(CODE.LOGIN_DEADLINE, `no login in ${limits.loginDeadlineMs} ms`),
      limits.loginDeadlineMs,
    );
    connection.onClose(() => {
      this.closed = true;
      this.timers.clear(this.timer);
    });
  }

  /** A frame arrived. False when it is refused (the connection is closing): do not answer it. */
  admit(loggedIn: boolean): boolean {
    if (this.closed) return false;
    if (!loggedIn && ++this.framesBeforeLogin > this.limits.preLoginFramesMax) {
      this.refuse(
        CODE.LOGIN_DEADLINE,
        `more than ${this.limits.preLoginFramesMax} frames before login`,
      );
      return false;
    }
    if (this.inFlight >= this.limits.inFlightMax) {
      this.refuse(CODE.CONNECTION_LIMIT, `more than ${this.limits.inFlightMax} requests in flight`);
      return false;
    }
    this.inFlight++;
    if (this.loggedIn) this.restartIdle();
    return true;
  }

  /** A reply was sent; `loggedIn` is the session's state after the request. */
  replied(loggedIn: boolean): void {
    this.inFlight--;
    if (this.closed) return;
    if (loggedIn && !this.loggedIn) {
      this.loggedIn = true;
      this.restartIdle();
    }
    if (this.connection.bufferedBytes() > this.limits.replyBacklogBytesMax)
      this.refuse(
        CODE.CONNECTION_LIMIT,
        `more than ${this.limits.replyBacklogBytesMax} bytes of replies unread`,
      );
  }

  /** Sends the refusal frame, then closes with 1008 and the code's name. */
  refuse(codeNumber: number, detail: string): void {
    if (this.closed) return;
    this.closed = true;
    this.timers.clear(this.timer);
    const failure = new HsmError(codeNumber, detail);
    this.connection.send(
      encoder.encode(
        JSON.stringify({
          id: null,
          response: { code: codeNumber, name: failure.codeName, message: failure.detail },
        }),
      ),
    );
    this.connection.close(POLICY_VIOLATION, `${failure.codeName} (${codeNumber})`);
  }

  private restartIdle(): void {
    this.timers.clear(this.timer);
    this.timer = this.timers.set(
      () => this.refuse(CODE.SESSION_EXPIRED, `idle for ${this.limits.idleCloseMs} ms`),
      this.limits.idleCloseMs,
    );
  }
}
