// Peer links over the in-memory hub: the same code the WebSocket transport runs, without
// ports. Delivery, SVMK and id refusals seen from both ends, the bounded queue, reconnects,
// and a hostile peer that holds the key but sends bad frames.

import { afterEach, describe, expect, it } from 'vitest';
import { HsmError } from '../../host/core/codes.ts';
import { Random } from '../../host/protocol/random.ts';
import type { Envelope, NodeId } from '../../host/protocol/types.ts';
import { toNodeId } from '../../host/wire/ids.ts';
import { encodeEnvelope } from '../../host/transport/envelope-codec.ts';
import { createSocketPair, MemoryHub, MemoryTransport } from '../../host/transport/memory.ts';
import { LINK_MESSAGE, PEER_FRAME_SIZE_MAX } from '../../host/transport/link.ts';
import {
  backoffDelayMs,
  PEER_LINK_LIMITS,
  type LinkFailure,
} from '../../host/transport/peer-link-limits.ts';
import { PeerLinkTransport } from '../../host/transport/peer-link.ts';
import { FRAME_KIND, SecureChannel } from '../../host/transport/secure-channel.ts';
import { CLOSE_CODES, type FramedSocket } from '../../host/transport/transport.ts';
import { until } from '../sockets.ts';

const A = toNodeId('000000000000000a');
const B = toNodeId('000000000000000b');
const C = toNodeId('000000000000000c');
const KEY = new Uint8Array(32).fill(42);
const OTHER_KEY = new Uint8Array(32).fill(43);
const FAST = { reconnectDelayMsMin: 5, reconnectDelayMsMax: 20, handshakeTimeoutMs: 2_000 };

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((transport) => transport.close()));
});

function node(
  hub: MemoryHub,
  id: NodeId,
  options: { key?: Uint8Array; limits?: object; seed?: number } = {},
) {
  const random = new Random(options.seed ?? parseInt(id, 16));
  const transport = new MemoryTransport({
    hub,
    nodeId: id,
    address: `mem:${id}`,
    svmk: options.key ?? KEY,
    randomBytes: (n) => random.bytes(n),
    random: () => random.float(),
    limits: { ...FAST, ...options.limits },
  });
  const received: Envelope[] = [];
  transport.onEnvelope((envelope) => received.push(envelope));
  open.push(transport);
  return { transport, received };
}

type NodeOptions = Parameters<typeof node>[2];

/** A and B on one hub, A told B's address. */
function pair(aOptions: NodeOptions = {}, bOptions: NodeOptions = {}) {
  const hub = new MemoryHub();
  const a = node(hub, A, aOptions);
  const b = node(hub, B, bOptions);
  a.transport.setPeerAddress(B, `mem:${B}`);
  return { hub, a, b };
}

function envelope(from: NodeId, to: NodeId, n: number): Envelope {
  return {
    from,
    to,
    epoch: n,
    digest: '0:0000000000000000',
    sp: 0n,
    spvv: 0,
    body: { type: 'probe', nonce: `n${n}` },
  };
}

/** A peer holding the key (or not) that speaks the handshake by hand, then sends what it likes. */
function rawPeer(target: PeerLinkTransport, id: NodeId, key = KEY) {
  const [mine, theirs] = createSocketPair();
  const channel = new SecureChannel({
    role: 'initiator',
    localId: id,
    peerId: target.nodeId,
    svmk: key,
    randomBytes: (n) => new Random(7).bytes(n),
  });
  const state = { closeCode: undefined as number | undefined, opened: false };
  mine.onClose((code) => {
    state.closeCode = code;
  });
  mine.onFrame((frame) => {
    const step = channel.receive(frame);
    for (const out of step.frames) mine.send(out);
    if (step.opened) state.opened = true;
  });
  target.accept(theirs);
  for (const frame of channel.start().frames) mine.send(frame);
  const sendLinkMessage = (payload: Uint8Array): void => mine.send(channel.seal(payload));
  return { socket: mine as FramedSocket, channel, state, sendLinkMessage };
}

const linkEnvelope = (value: Envelope): Uint8Array =>
  Uint8Array.of(LINK_MESSAGE.ENVELOPE, ...encodeEnvelope(value));

describe('memory transport', () => {
  it('delivers envelopes between every pair of three nodes, in order', async () => {
    const hub = new MemoryHub();
    const nodes = [node(hub, A), node(hub, B), node(hub, C)];
    for (const x of nodes)
      for (const y of nodes)
        x.transport.setPeerAddress(y.transport.nodeId, `mem:${y.transport.nodeId}`);
    for (let n = 0; n < 20; n++)
      for (const x of nodes)
        for (const y of nodes)
          if (x !== y) x.transport.send(envelope(x.transport.nodeId, y.transport.nodeId, n));
    await until(() => nodes.every((x) => x.received.length === 40), 'all deliveries');
    for (const x of nodes) {
      for (const y of nodes.filter((other) => other !== x)) {
        expect(x.received.filter((e) => e.from === y.transport.nodeId).map((e) => e.epoch)).toEqual(
          [...Array(20).keys()],
        );
      }
      expect(x.transport.stats()).toMatchObject({
        sent: 40,
        delivered: 40,
        droppedQueueFull: 0,
        connectionsRefused: 0,
      });
    }
  });

  it('answers a node whose address it does not know on the link that node dialed, and drops what it cannot route', async () => {
    const hub = new MemoryHub();
    const a = node(hub, A);
    const b = node(hub, B);
    b.transport.send(envelope(B, A, 1)); // no address, no link: unroutable
    expect(b.transport.stats().droppedUnroutable).toBe(1);
    a.transport.setPeerAddress(B, `mem:${B}`);
    a.transport.send(envelope(A, B, 1));
    await until(() => b.received.length === 1, 'the envelope A dialed B for');
    b.transport.send(envelope(B, A, 2)); // B still knows no address for A: back on A's link
    await until(() => a.received.length === 1, 'the answer on the inbound link');
    expect(a.received[0]).toMatchObject({ from: B, epoch: 2 });
    expect(b.transport.stats().droppedUnroutable).toBe(1);
  });

  it('SVMK mismatch: nothing crosses, and both ends report 5306', async () => {
    const { a, b } = pair({}, { key: OTHER_KEY });
    b.transport.setPeerAddress(A, `mem:${A}`);
    a.transport.send(envelope(A, B, 1));
    b.transport.send(envelope(B, A, 1));
    expect(await a.transport.crossCheck(1_000)).toEqual([
      { id: B, address: `mem:${B}`, code: 5306 },
    ]);
    expect(await b.transport.crossCheck(1_000)).toEqual([
      { id: A, address: `mem:${A}`, code: 5306 },
    ]);
    expect(a.received).toEqual([]);
    expect(b.received).toEqual([]);
    expect(a.transport.peerStates()[0].lastError).toBe(5306);
  });

  it('SVMK mismatch: the node that was dialed hears 5306 too (from close code 4306)', async () => {
    const { a, b } = pair({}, { key: OTHER_KEY });
    const failures: LinkFailure[] = [];
    b.transport.onLinkFailure((failure) => failures.push(failure));
    expect(await a.transport.crossCheck(1_000)).toEqual([
      { id: B, address: `mem:${B}`, code: 5306 },
    ]);
    await until(() => failures.length > 0, 'the failure on the dialed side');
    expect(failures).toEqual([{ direction: 'inbound', peerId: A, code: 5306 }]);
  });

  it('cross check: RTT for a live peer, 38604 when another node answers, 37004 when nobody listens', async () => {
    const hub = new MemoryHub();
    const a = node(hub, A);
    node(hub, B);
    node(hub, C);
    const [D, E] = [toNodeId('00000000000000dd'), toNodeId('00000000000000ee')];
    a.transport.setPeerAddress(B, `mem:${B}`);
    a.transport.setPeerAddress(D, `mem:${C}`);
    a.transport.setPeerAddress(E, 'mem:nobody');
    const results = await a.transport.crossCheck(1_000);
    expect(results.map(({ id, code }) => ({ id, code }))).toEqual([
      { id: B, code: undefined },
      { id: D, code: 38604 },
      { id: E, code: 37004 },
    ]);
    expect(results[0].rttMs).toBeGreaterThanOrEqual(0);
  });

  it('keeps the newest envelopes when a peer queue overflows, and delivers them once the peer is back', async () => {
    const { hub, a, b } = pair({ limits: { queueEnvelopesMax: 10 } });
    hub.setIsolated(`mem:${B}`, true);
    for (let n = 0; n < 25; n++) a.transport.send(envelope(A, B, n));
    expect(a.transport.stats().droppedQueueFull).toBe(15);
    await until(() => a.transport.peerStates()[0].lastError === 37004, 'a failed dial');
    hub.setIsolated(`mem:${B}`, false);
    await until(() => b.received.length === 10, 'the queued envelopes');
    expect(b.received.map((e) => e.epoch)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  });

  it('redials a link that dropped, and drops nothing that was queued meanwhile', async () => {
    const { hub, a, b } = pair();
    a.transport.send(envelope(A, B, 1));
    await until(() => b.received.length === 1, 'first envelope');
    hub.setIsolated(`mem:${A}`, true);
    await until(() => !a.transport.peerStates()[0].connected, 'the link to drop');
    a.transport.send(envelope(A, B, 2));
    a.transport.send(envelope(A, B, 3));
    hub.setIsolated(`mem:${A}`, false);
    await until(() => b.received.length === 3, 'envelopes after the reconnect');
    expect(b.received.map((e) => e.epoch)).toEqual([1, 2, 3]);
  });

  it('dials at once, out of its backoff, when the peer it waits for dials in', async () => {
    // A backoff of at least 30 s: only the peer's own link can bring A's envelopes over in time.
    const slow = { reconnectDelayMsMin: 60_000, reconnectDelayMsMax: 120_000 };
    const { hub, a, b } = pair({ limits: slow });
    hub.setIsolated(`mem:${B}`, true);
    a.transport.send(envelope(A, B, 1));
    await until(() => a.transport.peerStates()[0].lastError === 37004, 'a failed dial');
    hub.setIsolated(`mem:${B}`, false);
    expect(a.transport.peerStates()[0].connected).toBe(false);
    b.transport.setPeerAddress(A, `mem:${A}`);
    b.transport.send(envelope(B, A, 7));
    await until(() => a.received.length === 1, "B's envelope on B's link");
    await until(() => b.received.length === 1, "A's queued envelope on A's link");
    expect(b.received.map((e) => e.epoch)).toEqual([1]);
    expect(a.transport.peerStates()[0].connected).toBe(true);
  });

  it('keeps both links when two nodes dial each other, and each carries its own direction', async () => {
    const { a, b } = pair();
    b.transport.setPeerAddress(A, `mem:${A}`);
    for (let n = 0; n < 5; n++) {
      a.transport.send(envelope(A, B, n));
      b.transport.send(envelope(B, A, n));
    }
    await until(() => a.received.length === 5 && b.received.length === 5, 'both directions');
    expect(a.received.map((e) => e.epoch)).toEqual([0, 1, 2, 3, 4]);
    expect(b.received.map((e) => e.epoch)).toEqual([0, 1, 2, 3, 4]);
  });

  it('removePeer forgets the peer: no cross check, sends are counted as unroutable', async () => {
    const { a } = pair();
    expect(await a.transport.crossCheck(1_000)).toHaveLength(1);
    a.transport.removePeer(B);
    expect(await a.transport.crossCheck(1_000)).toEqual([]);
    a.transport.send(envelope(A, B, 1));
    expect(a.transport.stats().droppedUnroutable).toBe(1);
  });

  it('throws on caller bugs, never on network trouble', () => {
    const hub = new MemoryHub();
    const a = node(hub, A);
    a.transport.setPeerAddress(B, 'mem:nobody');
    expect(() => a.transport.send(envelope(A, B, 1))).not.toThrow();
    expect(() => a.transport.send(envelope(B, A, 1))).toThrow(RangeError);
    expect(() => a.transport.send({ ...envelope(A, B, 1), epoch: -1 })).toThrow(HsmError);
    // @ts-expect-error: 'B' is no NodeId; what is tested is the check at run time
    expect(() => a.transport.setPeerAddress('B', 'x')).toThrow(RangeError);
    expect(
      () => new MemoryTransport({ hub, nodeId: C, address: 'mem:c', svmk: new Uint8Array(16) }),
    ).toThrow(RangeError);
    expect(
      () =>
        new MemoryTransport({
          hub,
          nodeId: C,
          address: 'mem:c2',
          svmk: KEY,
          limits: { queueEnvelopesMax: Infinity },
        }),
    ).toThrow(RangeError);
  });
});

describe('backpressure', () => {
  it('holds envelopes while the socket buffer is over its limit and sends them as it drains', async () => {
    const hub = new MemoryHub();
    const b = node(hub, B);
    const socket = { buffered: 0, held: [] as (() => void)[] };
    const random = new Random(11);
    const a = new PeerLinkTransport({
      nodeId: A,
      svmk: KEY,
      randomBytes: (n) => random.bytes(n),
      limits: { ...FAST, socketBufferedBytesMax: 1000 },
      dial: async (address) => {
        const inner = await hub.dial('mem:slow', address);
        return {
          ...inner,
          bufferedBytes: () => socket.buffered,
          send: (frame, onWritten) => {
            socket.buffered += frame.length;
            inner.send(frame, () =>
              socket.held.push(() => {
                socket.buffered -= frame.length;
                onWritten?.();
              }),
            );
          },
        };
      },
    });
    open.push(a);
    a.setPeerAddress(B, `mem:${B}`);
    for (let n = 0; n < 50; n++) a.send(envelope(A, B, n));
    await until(() => b.received.length > 0, 'the first envelopes');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const whileFull = b.received.length;
    expect(whileFull).toBeLessThan(50);
    expect(a.peerStates()[0].queued).toBe(50 - whileFull);
    while (b.received.length < 50) {
      for (const release of socket.held.splice(0)) release();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(b.received.map((e) => e.epoch)).toEqual([...Array(50).keys()]);
    expect(a.stats().droppedQueueFull).toBe(0);
  });
});

describe('a hostile peer that holds the SVMK', () => {
  const victim = async () => pair();

  /** After the hostile link is closed, an honest peer's link to the same node still works. */
  async function honestLinkStillWorks(
    a: ReturnType<typeof node>,
    b: ReturnType<typeof node>,
    n: number,
  ): Promise<void> {
    a.transport.send(envelope(A, B, n));
    await until(() => b.received.some((e) => e.epoch === n), 'the honest envelope');
  }

  it('cannot send as another node: an envelope naming another sender closes the link with 4401', async () => {
    const { a, b } = await victim();
    const hostile = rawPeer(b.transport, C);
    await until(() => hostile.state.opened, 'the hostile handshake');
    hostile.sendLinkMessage(linkEnvelope(envelope(A, B, 99)));
    await until(() => hostile.state.closeCode !== undefined, 'the close');
    expect(hostile.state.closeCode).toBe(CLOSE_CODES.UNAUTHENTICATED);
    expect(b.received).toEqual([]);
    expect(b.transport.stats().connectionsRefused).toBe(1);
    await honestLinkStillWorks(a, b, 1);
  });

  it('bad frames close that link with their own code, and nothing else', async () => {
    const cases: [string, (peer: ReturnType<typeof rawPeer>) => void, number][] = [
      [
        'unknown link message',
        (peer) => peer.sendLinkMessage(Uint8Array.of(77, 1, 2)),
        CLOSE_CODES.MALFORMED,
      ],
      [
        'empty link message',
        (peer) => peer.sendLinkMessage(new Uint8Array(0)),
        CLOSE_CODES.MALFORMED,
      ],
      [
        'malformed envelope',
        (peer) =>
          peer.sendLinkMessage(
            Uint8Array.of(LINK_MESSAGE.ENVELOPE, ...new TextEncoder().encode('{"v":1}')),
          ),
        CLOSE_CODES.MALFORMED,
      ],
      [
        'garbage after the handshake',
        (peer) => peer.socket.send(new TextEncoder().encode('garbage')),
        CLOSE_CODES.MALFORMED,
      ],
      [
        'a tampered sealed frame',
        (peer) => {
          const frame = peer.channel.seal(Uint8Array.of(LINK_MESSAGE.PING, 0, 0, 0, 1));
          frame[12] ^= 1;
          peer.socket.send(frame);
        },
        CLOSE_CODES.UNAUTHENTICATED,
      ],
      [
        'an oversize frame',
        (peer) => peer.socket.send(new Uint8Array(PEER_FRAME_SIZE_MAX + 1)),
        CLOSE_CODES.TOO_LARGE,
      ],
    ];
    for (const [what, misbehave, closeCode] of cases) {
      const { a, b } = await victim();
      const hostile = rawPeer(b.transport, C);
      await until(() => hostile.state.opened, `${what}: handshake`);
      misbehave(hostile);
      await until(() => hostile.state.closeCode !== undefined, `${what}: close`);
      expect(hostile.state.closeCode, what).toBe(closeCode);
      expect(b.received, what).toEqual([]);
      await honestLinkStillWorks(a, b, 1);
    }
  });

  it('misdirected envelopes are counted and ignored, the link stays up', async () => {
    const { b } = await victim();
    const hostile = rawPeer(b.transport, C);
    await until(() => hostile.state.opened, 'the handshake');
    hostile.sendLinkMessage(linkEnvelope(envelope(C, A, 1)));
    hostile.sendLinkMessage(linkEnvelope(envelope(C, B, 2)));
    await until(() => b.received.length === 1, 'the well-addressed envelope');
    expect(b.transport.stats().droppedMisdirected).toBe(1);
    expect(hostile.state.closeCode).toBeUndefined();
  });

  it('a peer that cannot prove the SVMK is closed with 4306 (5306) before anything crosses', async () => {
    const { b } = await victim();
    const [mine, theirs] = createSocketPair();
    let closeCode: number | undefined;
    mine.onClose((code) => {
      closeCode = code;
    });
    // It skips checking the node's proof (it could not) and answers with a guessed one.
    mine.onFrame(() => mine.send(Uint8Array.of(FRAME_KIND.PROOF, ...new Uint8Array(32).fill(1))));
    b.transport.accept(theirs);
    const intruder = new SecureChannel({
      role: 'initiator',
      localId: C,
      peerId: B,
      svmk: OTHER_KEY,
      randomBytes: (n) => new Random(3).bytes(n),
    });
    mine.send(intruder.start().frames[0]);
    await until(() => closeCode !== undefined, 'the close');
    expect(closeCode).toBe(CLOSE_CODES.SVMK_MISMATCH);
    expect(b.transport.stats().connectionsRefused).toBe(1);
    expect(b.received).toEqual([]);
  });

  it('a connection that never finishes the handshake is closed with 4402', async () => {
    const hub = new MemoryHub();
    const b = node(hub, B, { limits: { handshakeTimeoutMs: 30 } });
    const [mine, theirs] = createSocketPair();
    let closeCode: number | undefined;
    mine.onClose((code) => {
      closeCode = code;
    });
    b.transport.accept(theirs);
    await until(() => closeCode !== undefined, 'the handshake timeout');
    expect(closeCode).toBe(CLOSE_CODES.HANDSHAKE_FAILED);
  });
});

describe('reconnect backoff', () => {
  it('doubles from the minimum to the maximum, jittered into the upper half of each step', () => {
    const limits = { reconnectDelayMsMin: 50, reconnectDelayMsMax: 5_000 };
    expect(backoffDelayMs(1, limits, 0)).toBe(25);
    expect(backoffDelayMs(1, limits, 0.999)).toBeCloseTo(50, 0);
    expect(backoffDelayMs(3, limits, 0.5)).toBe(150);
    for (const attempt of [8, 30, 1000]) {
      expect(backoffDelayMs(attempt, limits, 0)).toBe(2_500);
      expect(backoffDelayMs(attempt, limits, 0.999)).toBeLessThanOrEqual(5_000);
    }
    expect(PEER_LINK_LIMITS.reconnectDelayMsMax).toBeLessThan(Infinity);
  });
});
