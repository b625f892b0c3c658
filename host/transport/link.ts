// One peer link: a FramedSocket with its SecureChannel and pings in flight, and the per-peer
// outbound state the transport keeps (peer-link.ts). The link messages inside sealed frames:
//   0x01 ENVELOPE | envelope-codec bytes      0x02 PING | u32 sequence      0x03 PONG | u32 sequence
// Browser-safe.

import type { Envelope, NodeId } from '../protocol/types.ts';
import { encodeEnvelope, PEER_MESSAGE_SIZE_MAX } from './envelope-codec.ts';
import { SEAL_OVERHEAD, type SecureChannel } from './secure-channel.ts';
import type { FramedSocket } from './transport.ts';

export const LINK_MESSAGE = { ENVELOPE: 1, PING: 2, PONG: 3 } as const;
export const PING_SIZE = 5;
/** The largest frame a peer link accepts: a sealed ENVELOPE of PEER_MESSAGE_SIZE_MAX bytes. */
export const PEER_FRAME_SIZE_MAX = PEER_MESSAGE_SIZE_MAX + 1 + SEAL_OVERHEAD;

export type OpenOutcome = Link | number;

export class Link {
  closed = false;
  handshakeTimer: unknown;
  nextPing = 1;
  readonly pings = new Map<number, (outcome: number | { rttMs: number }) => void>();
  constructor(
    readonly socket: FramedSocket,
    readonly channel: SecureChannel,
    readonly peer: Peer | undefined,
  ) {}
  get open(): boolean {
    return !this.closed && this.channel.state === 'open';
  }
}

export interface Peer {
  readonly id: NodeId;
  address: string;
  /** Encoded envelopes, oldest first. */
  queue: Uint8Array[];
  queueBytes: number;
  /** The link we dialed (connecting, handshaking or open). */
  link: Link | undefined;
  dialing: boolean;
  retryTimer: unknown;
  /** Consecutive failed attempts, for the backoff. */
  attempt: number;
  lastError: number | undefined;
  openWaiters: ((outcome: OpenOutcome) => void)[];
}

/** Hand every cross check waiting for this peer's link the outcome of the attempt. */
export function settle(peer: Peer, outcome: OpenOutcome): void {
  const waiters = peer.openWaiters;
  peer.openWaiters = [];
  for (const waiter of waiters) waiter(outcome);
}

export function pingPayload(type: number, sequence: number): Uint8Array {
  const payload = new Uint8Array(PING_SIZE);
  payload[0] = type;
  new DataView(payload.buffer).setUint32(1, sequence);
  return payload;
}

/** An ENVELOPE link message: the type byte, then the encoded envelope. */
export function envelopePayload(envelope: Envelope): Uint8Array {
  const payload = encodeEnvelope(envelope, 1);
  payload[0] = LINK_MESSAGE.ENVELOPE;
  return payload;
}
