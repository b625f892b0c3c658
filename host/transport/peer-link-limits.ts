// Peer links' named limits, clock and options, and the reconnect backoff (docs/TRANSPORT.md).
// Browser-safe.

import type { NodeId } from '../protocol/types.ts';
import { PEER_MESSAGE_SIZE_MAX } from './envelope-codec.ts';
import type { ChaChaAead } from '../wire/crypto-engine.ts';
import type { FramedSocket } from './transport.ts';

export interface PeerLinkLimits {
  /** Envelopes waiting per peer before the oldest is dropped. */
  readonly queueEnvelopesMax: number;
  /** Bytes waiting per peer before the oldest is dropped (at least PEER_MESSAGE_SIZE_MAX). */
  readonly queueBytesMax: number;
  /** Bytes handed to a socket and not yet written, past which we wait (backpressure). */
  readonly socketBufferedBytesMax: number;
  readonly reconnectDelayMsMin: number;
  readonly reconnectDelayMsMax: number;
  /** From connect to an open channel. */
  readonly handshakeTimeoutMs: number;
  /** Inbound links at once; more are closed with 1013. */
  readonly inboundLinksMax: number;
  /** The longest cross check one may ask for. */
  readonly crossCheckTimeoutMsMax: number;
}

export const PEER_LINK_LIMITS: PeerLinkLimits = {
  queueEnvelopesMax: 1024,
  queueBytesMax: 16 << 20,
  socketBufferedBytesMax: 8 << 20,
  reconnectDelayMsMin: 50,
  // The longest a healed partition waits for a redial: 5 s let writes stay blocked up to 2.7 s
  // after the heal (chaos); a dial a second to each unreachable peer costs nothing at 16 nodes.
  reconnectDelayMsMax: 1_000,
  handshakeTimeoutMs: 5_000,
  inboundLinksMax: 256,
  crossCheckTimeoutMsMax: 60_000,
};

/** Timers and a monotonic clock; tests and the browser page may bring their own. */
export interface LinkClock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: LinkClock = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface PeerLinkOptions {
  readonly nodeId: NodeId;
  /** The pool master key, 32 bytes. */
  readonly svmk: Uint8Array;
  /** Open a connection to an address; reject (any error) when it cannot be opened. */
  readonly dial: (address: string) => Promise<FramedSocket>;
  readonly randomBytes?: (length: number) => Uint8Array;
  /** The frame AEAD of every link (default NOBLE_CHACHA; ws.node.ts passes NODE_CHACHA). */
  readonly aead?: ChaChaAead;
  /** Backoff jitter, uniform in [0, 1). */
  readonly random?: () => number;
  readonly clock?: LinkClock;
  readonly limits?: Partial<PeerLinkLimits>;
}

export interface LinkFailure {
  /** Whether we dialed the link or accepted it. */
  readonly direction: 'inbound' | 'outbound';
  /** The peer's id: the one we dialed, or the one an inbound peer claimed in its HELLO
   * (authenticated only if the handshake got past the proofs). */
  readonly peerId?: NodeId;
  /** A documented return code: 5306 SVMK_MISMATCH, 38603 FRAME_UNAUTHENTICATED, ... */
  readonly code: number;
}

export interface PeerState {
  readonly id: NodeId;
  readonly address: string;
  readonly connected: boolean;
  readonly queued: number;
  /** Why the last attempt to open the link failed, if it did. */
  readonly lastError?: number;
}

/** Backoff doubles at most this many times (then stays at reconnectDelayMsMax). */
export const BACKOFF_DOUBLINGS_MAX = 30;

/** Attempt n waits min * 2^(n-1), capped at max, then jittered into its upper half ("equal
 * jitter"): nodes that lost a peer together do not redial in step, and none waits near zero. */
export function backoffDelayMs(
  attempt: number,
  limits: Pick<PeerLinkLimits, 'reconnectDelayMsMin' | 'reconnectDelayMsMax'>,
  random: number,
): number {
  const exponent = Math.min(Math.max(attempt, 1), BACKOFF_DOUBLINGS_MAX) - 1;
  const base = Math.min(limits.reconnectDelayMsMax, limits.reconnectDelayMsMin * 2 ** exponent);
  return base / 2 + (base / 2) * random;
}

export function checkLimits(limits: PeerLinkLimits): PeerLinkLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0)
      throw new RangeError(`limits.${name}: expected a finite positive number, got ${value}`);
  }
  if (limits.queueBytesMax < PEER_MESSAGE_SIZE_MAX)
    throw new RangeError(
      `limits.queueBytesMax: at least PEER_MESSAGE_SIZE_MAX (${PEER_MESSAGE_SIZE_MAX})`,
    );
  if (limits.reconnectDelayMsMin > limits.reconnectDelayMsMax)
    throw new RangeError('limits: reconnectDelayMsMin above reconnectDelayMsMax');
  return limits;
}
