// Peer links over any FramedSocket: the PeerTransport both memory.ts and ws.node.ts expose.
// Each link runs the SecureChannel handshake, then carries sealed link messages:
//   0x01 ENVELOPE | envelope-codec bytes      0x02 PING | u32 sequence      0x03 PONG | u32 sequence
//
// Choices (docs/TRANSPORT.md):
// - Two nodes may each dial the other; both connections are kept. A node sends envelopes only
//   on the link it dialed and receives on any (except to a node whose address it does not
//   know: that one is answered on the link it dialed to us). No tie-break race, no handover, and each
//   direction's traffic stays in order; 2 sockets per pair is nothing at NODES_MAX = 16.
// - Per-peer queue, bounded in envelopes and bytes; when full the OLDEST envelope is dropped
//   and counted. The protocol re-sends on its pulse, and the newest envelope carries the
//   freshest epoch and Sync-Point, so the oldest is the one least worth keeping.
// - Links are dialed when there is something to send (or a cross check), and redialed after a
//   failure with jittered exponential backoff between named bounds.
// - A bad frame or a failed handshake closes that link with a close code naming why
//   (transport.ts CLOSE_CODES); nothing was delivered from it, and other links are untouched.
// Browser-safe: timers and randomness come from the options (defaults: globalThis).

import { CODE, HsmError } from '../core/codes.ts';
import { SVMK_SIZE } from '../core/keys.ts';
import type { Envelope, NodeId } from '../protocol/types.ts';
import { decodeEnvelope, TEXT_LENGTH_MAX } from './envelope-codec.ts';
import {
  envelopePayload,
  Link,
  LINK_MESSAGE,
  PEER_FRAME_SIZE_MAX,
  PING_SIZE,
  pingPayload,
  settle,
  type OpenOutcome,
  type Peer,
} from './link.ts';
import {
  checkLimits,
  backoffDelayMs,
  BACKOFF_DOUBLINGS_MAX,
  PEER_LINK_LIMITS,
  SYSTEM_CLOCK,
  type LinkClock,
  type LinkFailure,
  type PeerLinkLimits,
  type PeerLinkOptions,
  type PeerState,
} from './peer-link-limits.ts';
import { SecureChannel, type ChannelStep } from './secure-channel.ts';
import {
  assertNodeId,
  CLOSE_CODES,
  closeCodeFor,
  returnCodeForClose,
  type CrossCheckResult,
  type FramedSocket,
  type PeerTransport,
  type TransportStats,
} from './transport.ts';
import { secureRandomBytes } from '../wire/random.ts';

export class PeerLinkTransport implements PeerTransport {
  readonly limits: PeerLinkLimits;
  private readonly clock: LinkClock;
  private readonly random: () => number;
  private readonly randomBytes: (length: number) => Uint8Array;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Set<Link>();
  private readonly handlers: ((envelope: Envelope) => void)[] = [];
  private readonly failureHandlers: ((failure: LinkFailure) => void)[] = [];
  private readonly counters: TransportStats = {
    sent: 0,
    delivered: 0,
    droppedQueueFull: 0,
    droppedUnroutable: 0,
    droppedMisdirected: 0,
    connectionsRefused: 0,
  };
  private closed = false;

  constructor(private readonly options: PeerLinkOptions) {
    assertNodeId(options.nodeId, 'nodeId');
    this.limits = checkLimits({ ...PEER_LINK_LIMITS, ...options.limits });
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.random = options.random ?? Math.random;
    this.randomBytes = options.randomBytes ?? secureRandomBytes;
    // Fail now, not at the first connection, on a bad key.
    if (!(options.svmk instanceof Uint8Array) || options.svmk.length !== SVMK_SIZE)
      throw new RangeError(`svmk: expected ${SVMK_SIZE} bytes`);
  }

  get nodeId(): NodeId {
    return this.options.nodeId;
  }

  send(envelope: Envelope): void {
    if (envelope.from !== this.options.nodeId)
      throw new RangeError(
        `send: envelope.from is ${envelope.from}, this node is ${this.options.nodeId}`,
      );
    const payload = envelopePayload(envelope);
    this.counters.sent++;
    const peer = this.peers.get(envelope.to);
    if (peer === undefined || this.closed) {
      // No address for it: a node that dialed us and that we cannot dial back (a joiner knows
      // only its donor, yet members probe it) is answered on its own link, best effort.
      const inbound = this.closed
        ? undefined
        : [...this.inbound].find((link) => link.open && link.channel.peerId === envelope.to);
      if (inbound === undefined) {
        this.counters.droppedUnroutable++;
        return;
      }
      this.sendSealed(inbound, payload);
      return;
    }
    this.enqueue(peer, payload);
    this.pump(peer);
  }

  onEnvelope(handler: (envelope: Envelope) => void): void {
    this.handlers.push(handler);
  }

  /** Where a node listens. This node's own id is ignored: a node is not its own peer. */
  setPeerAddress(id: NodeId, address: string): void {
    assertNodeId(id, 'id');
    if (typeof address !== 'string' || address.length === 0 || address.length > TEXT_LENGTH_MAX)
      throw new RangeError(`address: expected 1 to ${TEXT_LENGTH_MAX} characters`);
    if (id === this.options.nodeId || this.closed) return;
    const peer = this.peers.get(id);
    if (peer === undefined) {
      this.peers.set(id, {
        id,
        address,
        queue: [],
        queueBytes: 0,
        link: undefined,
        dialing: false,
        retryTimer: undefined,
        attempt: 0,
        lastError: undefined,
        openWaiters: [],
      });
      return;
    }
    if (peer.address === address) return;
    peer.address = address;
    if (peer.link !== undefined)
      this.closeLink(peer.link, CLOSE_CODES.NORMAL, 'address changed', CODE.NET_FAIL);
    // A new address is a fresh start: no backoff earned at the old one.
    this.cancelRetry(peer);
    peer.attempt = 0;
    peer.lastError = undefined;
    this.pump(peer);
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    this.peers.delete(id);
    this.cancelRetry(peer);
    peer.queue = [];
    peer.queueBytes = 0;
    if (peer.link !== undefined)
      this.closeLink(peer.link, CLOSE_CODES.NORMAL, 'peer removed', CODE.NET_FAIL);
    settle(peer, CODE.NET_FAIL);
  }

  async crossCheck(timeoutMs: number): Promise<CrossCheckResult[]> {
    if (
      !Number.isFinite(timeoutMs) ||
      timeoutMs <= 0 ||
      timeoutMs > this.limits.crossCheckTimeoutMsMax
    ) {
      throw new RangeError(`timeoutMs: expected (0, ${this.limits.crossCheckTimeoutMsMax}]`);
    }
    return Promise.all([...this.peers.values()].map((peer) => this.checkPeer(peer, timeoutMs)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) {
      this.cancelRetry(peer);
      if (peer.link !== undefined)
        this.closeLink(peer.link, CLOSE_CODES.GOING_AWAY, 'node stopping', CODE.NET_FAIL);
      settle(peer, CODE.NET_FAIL);
    }
    for (const link of [...this.inbound])
      this.closeLink(link, CLOSE_CODES.GOING_AWAY, 'node stopping', CODE.NET_FAIL);
  }

  /** A connection someone opened to us (the /peer path, or a memory hub). */
  accept(socket: FramedSocket): void {
    if (this.closed || this.inbound.size >= this.limits.inboundLinksMax) {
      socket.close(
        this.closed ? CLOSE_CODES.GOING_AWAY : CLOSE_CODES.TRY_AGAIN_LATER,
        this.closed ? 'node stopping' : 'too many peer connections',
      );
      return;
    }
    const channel = new SecureChannel({
      role: 'responder',
      localId: this.options.nodeId,
      svmk: this.options.svmk,
      randomBytes: this.randomBytes,
      aead: this.options.aead,
    });
    const link = new Link(socket, channel, undefined);
    this.inbound.add(link);
    this.attach(link);
  }

  /** Every link that failed: a refused frame or handshake on either side, a failed dial. For
   * logs and the console; the transport has already closed the link and will redial as needed. */
  onLinkFailure(handler: (failure: LinkFailure) => void): void {
    this.failureHandlers.push(handler);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  peerStates(): PeerState[] {
    return [...this.peers.values()].map((peer) => ({
      id: peer.id,
      address: peer.address,
      connected: peer.link?.open ?? false,
      queued: peer.queue.length,
      ...(peer.lastError === undefined ? {} : { lastError: peer.lastError }),
    }));
  }

  // ---- Outbound: queue, dial, backoff ----

  private enqueue(peer: Peer, payload: Uint8Array): void {
    peer.queue.push(payload);
    peer.queueBytes += payload.length;
    while (
      peer.queue.length > this.limits.queueEnvelopesMax ||
      peer.queueBytes > this.limits.queueBytesMax
    ) {
      peer.queueBytes -= peer.queue.shift()!.length;
      this.counters.droppedQueueFull++;
    }
  }

  /** Write queued envelopes while the socket keeps up; otherwise make sure a link is coming. */
  private pump(peer: Peer): void {
    const link = peer.link;
    if (link === undefined || !link.open) {
      if (peer.queue.length > 0) this.ensureDialing(peer);
      return;
    }
    while (
      peer.queue.length > 0 &&
      link.socket.bufferedBytes() < this.limits.socketBufferedBytesMax
    ) {
      const payload = peer.queue.shift()!;
      peer.queueBytes -= payload.length;
      if (!this.sendSealed(link, payload, () => this.pump(peer))) return;
    }
  }

  private ensureDialing(peer: Peer): void {
    if (this.closed || peer.link !== undefined || peer.dialing || peer.retryTimer !== undefined)
      return;
    peer.dialing = true;
    const address = peer.address;
    this.options.dial(address).then(
      (socket) => this.onDialed(peer, address, socket),
      () => {
        peer.dialing = false;
        this.reportFailure({
          direction: 'outbound',
          peerId: peer.id,
          code: CODE.CANNOT_P2P_CONNECT,
        });
        this.onAttemptFailed(peer, CODE.CANNOT_P2P_CONNECT);
      },
    );
  }

  private onDialed(peer: Peer, address: string, socket: FramedSocket): void {
    peer.dialing = false;
    if (this.closed || this.peers.get(peer.id) !== peer || peer.address !== address) {
      socket.close(CLOSE_CODES.NORMAL, 'no longer wanted');
      if (!this.closed) this.pump(peer);
      return;
    }
    const channel = new SecureChannel({
      role: 'initiator',
      localId: this.options.nodeId,
      peerId: peer.id,
      svmk: this.options.svmk,
      randomBytes: this.randomBytes,
      aead: this.options.aead,
    });
    const link = new Link(socket, channel, peer);
    peer.link = link;
    this.attach(link);
    this.apply(link, channel.start());
  }

  private onAttemptFailed(peer: Peer, code: number): void {
    peer.lastError = code;
    settle(peer, code);
    this.scheduleRetry(peer);
  }

  /** Redial after the backoff, if there is still something to send. */
  private scheduleRetry(peer: Peer): void {
    if (
      this.closed ||
      this.peers.get(peer.id) !== peer ||
      peer.queue.length === 0 ||
      peer.retryTimer !== undefined
    )
      return;
    peer.attempt = Math.min(peer.attempt + 1, BACKOFF_DOUBLINGS_MAX);
    const delayMs = backoffDelayMs(peer.attempt, this.limits, this.random());
    peer.retryTimer = this.clock.setTimeout(() => {
      peer.retryTimer = undefined;
      this.pump(peer);
    }, delayMs);
  }

  private cancelRetry(peer: Peer): void {
    if (peer.retryTimer === undefined) return;
    this.clock.clearTimeout(peer.retryTimer);
    peer.retryTimer = undefined;
  }

  // ---- Links: handshake, frames, close ----

  private attach(link: Link): void {
    link.handshakeTimer = this.clock.setTimeout(() => {
      link.handshakeTimer = undefined;
      if (!link.open)
        this.refuse(link, new HsmError(CODE.CANNOT_P2P_HANDSHAKE, 'handshake timed out'));
    }, this.limits.handshakeTimeoutMs);
    link.socket.onFrame((frame) => this.onFrame(link, frame));
    link.socket.onClose((code) => this.onSocketClosed(link, code));
  }

  private onFrame(link: Link, frame: Uint8Array): void {
    if (link.closed) return;
    if (frame.length > PEER_FRAME_SIZE_MAX) {
      this.refuse(
        link,
        new HsmError(
          CODE.FRAME_TOO_LARGE,
          `frame of ${frame.length} bytes, at most ${PEER_FRAME_SIZE_MAX}`,
        ),
      );
      return;
    }
    this.apply(link, link.channel.receive(frame));
  }

  private apply(link: Link, step: ChannelStep): void {
    for (const frame of step.frames) link.socket.send(frame);
    if (step.error !== undefined) {
      this.refuse(link, step.error);
      return;
    }
    if (step.opened) this.onOpened(link);
    for (const payload of step.payloads) {
      if (link.closed) return;
      this.onPayload(link, payload);
    }
  }

  private onOpened(link: Link): void {
    this.clearHandshakeTimer(link);
    const peer = link.peer;
    if (peer === undefined) return this.onInboundOpened(link);
    peer.attempt = 0;
    peer.lastError = undefined;
    settle(peer, link);
    this.pump(peer);
  }

  /**
   * A peer that just dialed us and proved it holds the SVMK is up: if our own link to it waits
   * out a backoff with envelopes queued, dial now. Why: a node restarting takes seconds to come
   * back (a 1M-key store: 1.5 s), so the backoff of its peers' links grows meanwhile and the
   * first PREPARE for it waited up to 1.3 s after it was ready, while its own link to us was
   * open. The attempt count is kept, so a stale address still backs off as before.
   */
  private onInboundOpened(link: Link): void {
    const peerId = link.channel.peerId;
    const peer = peerId === undefined ? undefined : this.peers.get(peerId);
    if (peer === undefined || peer.retryTimer === undefined) return;
    this.cancelRetry(peer);
    this.pump(peer);
  }

  private onPayload(link: Link, payload: Uint8Array): void {
    const type = payload[0];
    if (type === LINK_MESSAGE.ENVELOPE) return this.onEnvelopeBytes(link, payload.subarray(1));
    if (
      (type === LINK_MESSAGE.PING || type === LINK_MESSAGE.PONG) &&
      payload.length === PING_SIZE
    ) {
      const sequence = new DataView(payload.buffer, payload.byteOffset + 1, 4).getUint32(0);
      if (type === LINK_MESSAGE.PING)
        return void this.sendSealed(link, pingPayload(LINK_MESSAGE.PONG, sequence));
      return void link.pings.get(sequence)?.({ rttMs: 0 });
    }
    this.refuse(
      link,
      new HsmError(
        CODE.FRAME_MALFORMED,
        `link message type ${type ?? 'missing'} or length ${payload.length}`,
      ),
    );
  }

  private onEnvelopeBytes(link: Link, bytes: Uint8Array): void {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(bytes);
    } catch (error) {
      this.refuse(link, error instanceof HsmError ? error : new HsmError(CODE.FRAME_MALFORMED));
      return;
    }
    if (envelope.from !== link.channel.peerId) {
      this.refuse(
        link,
        new HsmError(
          CODE.FRAME_UNAUTHENTICATED,
          `envelope from ${envelope.from} on the link of ${link.channel.peerId}`,
        ),
      );
      return;
    }
    if (envelope.to !== this.options.nodeId) {
      this.counters.droppedMisdirected++;
      return;
    }
    this.counters.delivered++;
    notifyAll(this.handlers, envelope);
  }

  /** Seal and send; false (and the link closed, to be redialed) once its frame counter ran out. */
  private sendSealed(link: Link, payload: Uint8Array, onWritten?: () => void): boolean {
    let frame: Uint8Array;
    try {
      frame = link.channel.seal(payload);
    } catch {
      this.closeLink(link, CLOSE_CODES.NORMAL, 'frame counter exhausted', CODE.NET_FAIL);
      return false;
    }
    // Every write on a link we dialed wakes the queue: whatever filled the socket buffer, its
    // draining is what lets queued envelopes go.
    const peer = link.peer;
    link.socket.send(frame, onWritten ?? (peer === undefined ? undefined : () => this.pump(peer)));
    return true;
  }

  /** Close a link for a bad frame or a failed handshake, telling the other end why. */
  private refuse(link: Link, error: HsmError): void {
    if (link.closed) return;
    this.counters.connectionsRefused++;
    this.closeLink(link, closeCodeFor(error.code), error.codeName, error.code, true);
  }

  /** `failed`: the link ends in a failure worth reporting, not in one of our own orderly closes. */
  private closeLink(
    link: Link,
    closeCode: number,
    reason: string,
    returnCode: number,
    failed = false,
  ): void {
    if (link.closed) return;
    link.socket.close(closeCode, reason);
    this.onLinkGone(link, returnCode, failed);
  }

  private onSocketClosed(link: Link, closeCode: number): void {
    if (link.closed) return;
    // The other end's close code says why (4306: it found our SVMK wrong); 1000, 1001, 1006 say nothing.
    const returnCode = returnCodeForClose(closeCode);
    this.onLinkGone(link, returnCode, !link.open || returnCode !== CODE.NET_FAIL);
  }

  private onLinkGone(link: Link, returnCode: number, failed: boolean): void {
    const wasOpen = link.open;
    link.closed = true;
    if (failed)
      this.reportFailure({
        direction: link.peer === undefined ? 'inbound' : 'outbound',
        peerId: link.channel.peerId,
        code: returnCode,
      });
    this.clearHandshakeTimer(link);
    for (const resolve of [...link.pings.values()]) resolve(CODE.NET_FAIL);
    this.inbound.delete(link);
    const peer = link.peer;
    if (peer === undefined || peer.link !== link) return;
    peer.link = undefined;
    // A link that worked and dropped is not a failed attempt: redial promptly, report nothing.
    if (wasOpen) this.scheduleRetry(peer);
    else this.onAttemptFailed(peer, returnCode);
  }

  private reportFailure(failure: LinkFailure): void {
    notifyAll(this.failureHandlers, failure);
  }

  private clearHandshakeTimer(link: Link): void {
    if (link.handshakeTimer === undefined) return;
    this.clock.clearTimeout(link.handshakeTimer);
    link.handshakeTimer = undefined;
  }

  // ---- Cross check ----

  private async checkPeer(peer: Peer, timeoutMs: number): Promise<CrossCheckResult> {
    const started = this.clock.now();
    const opened = await this.openLink(peer, timeoutMs);
    const result = (outcome: { rttMs: number } | number): CrossCheckResult =>
      typeof outcome === 'number'
        ? { id: peer.id, address: peer.address, code: outcome }
        : { id: peer.id, address: peer.address, rttMs: outcome.rttMs };
    if (typeof opened === 'number') return result(opened);
    const remainingMs = Math.max(1, timeoutMs - (this.clock.now() - started));
    return result(await this.ping(opened, remainingMs));
  }

  /** The peer's open link, dialing now (not after the backoff: a cross check is a person asking). */
  private openLink(peer: Peer, timeoutMs: number): Promise<OpenOutcome> {
    if (peer.link?.open) return Promise.resolve(peer.link);
    if (this.closed) return Promise.resolve(CODE.NET_FAIL);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        peer.openWaiters = peer.openWaiters.filter((waiter) => waiter !== finish);
        resolve(
          peer.link !== undefined
            ? CODE.CANNOT_P2P_HANDSHAKE
            : (peer.lastError ?? CODE.CANNOT_P2P_CONNECT),
        );
      }, timeoutMs);
      const finish = (outcome: OpenOutcome): void => {
        this.clock.clearTimeout(timer);
        resolve(outcome);
      };
      peer.openWaiters.push(finish);
      this.cancelRetry(peer);
      this.ensureDialing(peer);
    });
  }

  private ping(link: Link, timeoutMs: number): Promise<{ rttMs: number } | number> {
    if (!link.open) return Promise.resolve(CODE.CANNOT_P2P_SEND);
    const sequence = link.nextPing;
    link.nextPing = (link.nextPing % 0xffffffff) + 1;
    const sentAt = this.clock.now();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => finish(CODE.CANNOT_P2P_RECV), timeoutMs);
      const finish = (outcome: { rttMs: number } | number): void => {
        this.clock.clearTimeout(timer);
        link.pings.delete(sequence);
        resolve(typeof outcome === 'number' ? outcome : { rttMs: this.clock.now() - sentAt });
      };
      link.pings.set(sequence, finish);
      if (!this.sendSealed(link, pingPayload(LINK_MESSAGE.PING, sequence)))
        finish(CODE.CANNOT_P2P_SEND);
    });
  }
}

/** Calls every handler; a handler that throws is its bug, not the link's: the error surfaces
 * (a microtask rethrows it) without leaving the link half-updated or skipping the others. */
function notifyAll<T>(handlers: readonly ((value: T) => void)[], value: T): void {
  for (const handler of handlers) {
    try {
      handler(value);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
