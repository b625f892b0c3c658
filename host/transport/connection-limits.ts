// The named limits that keep a node serving under a flood of unauthenticated connections
// (docs/SECURITY.md "Denial of service"). Browser-safe: constants and a pure per-source
// counter; ws.node.ts (the port) and server/connection-guard.ts (each client connection)
// enforce them.

import { FRAME_SIZE_MAX } from '../wire/messages.ts';
import { sealedLength } from '../wire/session-channel.ts';

/** Of CONNECTIONS_MAX (ws.node.ts), this many are kept for peer links: clients never take them. */
export const PEER_CONNECTIONS_RESERVED = 64;
/** Client and console connections from one source address at once; more are answered 503. */
export const CONNECTIONS_PER_SOURCE_MAX = 64;
/**
 * The largest message on /client and /console: a sealed frame of FRAME_SIZE_MAX characters,
 * each up to 3 UTF-8 bytes (the 4 MiB peer limit never applies to client paths).
 */
export const CLIENT_MESSAGE_SIZE_MAX = sealedLength(3 * FRAME_SIZE_MAX);
/** A message begun on a client path must arrive whole within this long, or the connection closes. */
export const PARTIAL_MESSAGE_MS = 10_000;
/** A client connection must log in within this long after it opened. */
export const LOGIN_DEADLINE_MS = 10_000;
/** Frames a connection may send while not logged in (a login takes 2). */
export const PRE_LOGIN_FRAMES_MAX = 8;
/** Requests one client connection may have in flight on the node (the SDK's IN_FLIGHT_MAX). */
export const CONNECTION_IN_FLIGHT_MAX = 256;
/** Replies queued for a client that does not read them; past this the node closes it. */
export const REPLY_BACKLOG_BYTES_MAX = 8 * 2 ** 20;
/** A logged-in connection that sends nothing for this long is closed (the SDK reconnects). */
export const IDLE_CLOSE_MS = 30 * 60_000;
/** WebSocket close code for a connection closed over a limit (RFC 6455 policy violation). */
export const POLICY_VIOLATION = 1008;

/** Counts open connections per source address; `admit` refuses one over the bound. */
export class SourceCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number = CONNECTIONS_PER_SOURCE_MAX) {}

  admit(source: string): boolean {
    const count = this.counts.get(source) ?? 0;
    if (count >= this.max) return false;
    this.counts.set(source, count + 1);
    return true;
  }

  release(source: string): void {
    const count = (this.counts.get(source) ?? 0) - 1;
    if (count > 0) this.counts.set(source, count);
    else this.counts.delete(source);
  }

  get total(): number {
    let total = 0;
    for (const count of this.counts.values()) total += count;
    return total;
  }
}
