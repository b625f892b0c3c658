// The secure channel alone, frames handed across by hand: the handshake opens only between
// holders of the same SVMK, and once open every frame that was tampered with, replayed,
// reordered or truncated is refused.

import { describe, expect, it } from 'vitest';
import type { HsmError } from '../../host/core/codes.ts';
import { Random } from '../../host/protocol/random.ts';
import {
  ANY_NODE,
  FRAME_KIND,
  HANDSHAKE_VERSION,
  SecureChannel,
  type ChannelStep,
} from '../../host/transport/secure-channel.ts';
import type { NodeId } from '../../host/protocol/types.ts';
import { toNodeId } from '../../host/wire/ids.ts';
import { fromHex } from '../fixtures.ts';

const SVMK_MISMATCH = 5306;
const CANNOT_P2P_HANDSHAKE = 37002;
const FRAME_MALFORMED = 38602;
const FRAME_UNAUTHENTICATED = 38603;
const PEER_ID_MISMATCH = 38604;

const ALICE = toNodeId('00000000000000a1');
const BOB = toNodeId('00000000000000b2');
const svmk = (fill: number): Uint8Array => new Uint8Array(32).fill(fill);
const seeded = (seed: number) => {
  const random = new Random(seed);
  return (length: number): Uint8Array => random.bytes(length);
};

/** An initiator `localId` dialing `peerId` under `key`, its randomness drawn from `seed`. */
const initiatorOf = (localId: NodeId, peerId: NodeId, key: Uint8Array, seed: number) =>
  new SecureChannel({ role: 'initiator', localId, peerId, svmk: key, randomBytes: seeded(seed) });
/** A responder `localId` under `key`, its randomness drawn from `seed`. */
const responderOf = (localId: NodeId, key: Uint8Array, seed: number) =>
  new SecureChannel({ role: 'responder', localId, svmk: key, randomBytes: seeded(seed) });

function pair({
  initiatorKey = svmk(7),
  responderKey = svmk(7),
  expected = BOB,
  responderId = BOB,
  seed = 1,
}: {
  initiatorKey?: Uint8Array;
  responderKey?: Uint8Array;
  expected?: NodeId;
  responderId?: NodeId;
  seed?: number;
} = {}) {
  const initiator = initiatorOf(ALICE, expected, initiatorKey, seed);
  return { initiator, responder: responderOf(responderId, responderKey, seed + 1000) };
}

/** Run the handshake to its end; returns every step so tests can look at what each side saw. */
function handshake(
  initiator: SecureChannel,
  responder: SecureChannel,
): { initiatorSteps: ChannelStep[]; responderSteps: ChannelStep[] } {
  const initiatorSteps: ChannelStep[] = [initiator.start()];
  const responderSteps: ChannelStep[] = [];
  let toResponder = initiatorSteps[0].frames;
  for (let round = 0; round < 4 && toResponder.length > 0; round++) {
    const fromResponder = toResponder.flatMap((frame) => {
      const s = responder.receive(frame);
      responderSteps.push(s);
      return s.frames;
    });
    toResponder = fromResponder.flatMap((frame) => {
      const s = initiator.receive(frame);
      initiatorSteps.push(s);
      return s.frames;
    });
  }
  return { initiatorSteps, responderSteps };
}

const codeOf = (step: ChannelStep): number | undefined =>
  (step.error as HsmError | undefined)?.code;
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('secure channel handshake', () => {
  it('opens between holders of the same SVMK and authenticates both ids', () => {
    const { initiator, responder } = pair();
    const { initiatorSteps, responderSteps } = handshake(initiator, responder);
    expect(initiator.state).toBe('open');
    expect(responder.state).toBe('open');
    expect(responder.peerId).toBe(ALICE);
    expect(initiator.peerId).toBe(BOB);
    expect(initiatorSteps.filter((s) => s.opened)).toHaveLength(1);
    expect(responderSteps.filter((s) => s.opened)).toHaveLength(1);
    expect(responderSteps.every((s) => s.payloads.length === 0)).toBe(true);
  });

  it("a HELLO for ANY_NODE learns the responder's id, bound by the proofs; with another SVMK it learns nothing", () => {
    const { initiator, responder } = pair({ expected: ANY_NODE });
    handshake(initiator, responder);
    expect(initiator.state).toBe('open');
    expect(initiator.peerId).toBe(BOB);
    expect(responder.peerId).toBe(ALICE);
    const foreign = pair({ expected: ANY_NODE, responderKey: svmk(8) });
    const { initiatorSteps } = handshake(foreign.initiator, foreign.responder);
    expect(initiatorSteps.map(codeOf)).toContain(SVMK_MISMATCH);
    expect(foreign.initiator.peerId).toBe(ANY_NODE);
    // Nobody presents the wildcard as its own id.
    expect(() => responderOf(ANY_NODE, svmk(7), 3)).toThrow(RangeError);
    const claimsAny = responderOf(BOB, svmk(7), 4);
    const ids = [...fromHex(ANY_NODE), ...fromHex(BOB)]; // initiator: the wildcard; responder: BOB
    const hello = bytes(FRAME_KIND.HELLO, HANDSHAKE_VERSION, ...ids, ...new Uint8Array(32));
    expect(codeOf(claimsAny.receive(hello))).toBe(PEER_ID_MISMATCH);
  });

  it('carries payloads both ways, in order, empty ones included', () => {
    const { initiator, responder } = pair();
    handshake(initiator, responder);
    for (const payload of [bytes(1, 2, 3), new Uint8Array(0), new Uint8Array(5000).fill(9)]) {
      expect(responder.receive(initiator.seal(payload)).payloads).toEqual([payload]);
      expect(initiator.receive(responder.seal(payload)).payloads).toEqual([payload]);
    }
  });

  it('is deterministic under seeded randomness and fresh under another seed', () => {
    const first = pair({ seed: 5 });
    const second = pair({ seed: 5 });
    const third = pair({ seed: 6 });
    expect(first.initiator.start().frames).toEqual(second.initiator.start().frames);
    expect(third.initiator.start().frames).not.toEqual(pair({ seed: 5 }).initiator.start().frames);
  });

  it('SVMK mismatch: the initiator refuses the responder proof with 5306 and never opens', () => {
    const { initiator, responder } = pair({ initiatorKey: svmk(1), responderKey: svmk(2) });
    const { initiatorSteps } = handshake(initiator, responder);
    expect(codeOf(initiatorSteps.at(-1)!)).toBe(SVMK_MISMATCH);
    expect(initiator.state).toBe('failed');
    expect(responder.state).toBe('awaiting-proof');
    expect(initiatorSteps.at(-1)!.frames).toEqual([]); // no PROOF leaves a failed initiator
  });

  it('SVMK mismatch: the responder refuses a proof that does not verify with 5306', () => {
    const { responder } = pair();
    const intruder = initiatorOf(ALICE, BOB, svmk(3), 9);
    responder.receive(intruder.start().frames[0]);
    const forged = new Uint8Array(33);
    forged[0] = FRAME_KIND.PROOF;
    const step = responder.receive(forged);
    expect(codeOf(step)).toBe(SVMK_MISMATCH);
    expect(step.frames).toEqual([]);
    expect(responder.state).toBe('failed');
  });

  it('refuses a reflected proof: the responder proof sent back as the initiator proof', () => {
    const { initiator, responder } = pair();
    const reply = responder.receive(initiator.start().frames[0]).frames[0];
    const reflected = new Uint8Array(33);
    reflected[0] = FRAME_KIND.PROOF;
    reflected.set(reply.subarray(reply.length - 32), 1);
    expect(codeOf(responder.receive(reflected))).toBe(SVMK_MISMATCH);
  });

  it('refuses a replayed handshake: an old PROOF does not answer a new challenge', () => {
    const first = pair({ seed: 1 });
    const hello = first.initiator.start().frames[0];
    const proof = first.initiator.receive(first.responder.receive(hello).frames[0]).frames[0];
    const later = responderOf(BOB, svmk(7), 4242);
    later.receive(hello);
    expect(codeOf(later.receive(proof))).toBe(SVMK_MISMATCH);
  });

  it('refuses a HELLO meant for another node, or claiming the responder own id, with 38604', () => {
    const { initiator, responder } = pair({ expected: toNodeId('00000000000000c3') });
    expect(codeOf(responder.receive(initiator.start().frames[0]))).toBe(PEER_ID_MISMATCH);
    const self = initiatorOf(BOB, BOB, svmk(7), 3);
    const other = pair().responder;
    expect(codeOf(other.receive(self.start().frames[0]))).toBe(PEER_ID_MISMATCH);
  });

  it('refuses malformed, out-of-order and other-version handshake frames', () => {
    const hello = pair().initiator.start().frames[0];
    const cases: [Uint8Array, number][] = [
      [new Uint8Array(0), FRAME_MALFORMED],
      [bytes(99, 1, 2), FRAME_MALFORMED],
      [hello.subarray(0, hello.length - 1), FRAME_MALFORMED],
      [Uint8Array.of(...hello, 0), FRAME_MALFORMED],
      [
        Uint8Array.of(FRAME_KIND.HELLO, HANDSHAKE_VERSION + 1, ...hello.subarray(2)),
        CANNOT_P2P_HANDSHAKE,
      ],
      [Uint8Array.of(FRAME_KIND.PROOF, ...new Uint8Array(32)), CANNOT_P2P_HANDSHAKE],
      [Uint8Array.of(FRAME_KIND.SEALED, ...new Uint8Array(40)), FRAME_UNAUTHENTICATED],
    ];
    for (const [frame, code] of cases) {
      const { responder } = pair();
      const step = responder.receive(frame);
      expect(codeOf(step), `frame ${Array.from(frame.subarray(0, 3))}`).toBe(code);
      expect(step.frames).toEqual([]);
      expect(codeOf(responder.receive(hello))).toBe(code); // failed stays failed
    }
  });
});

describe('sealed frames', () => {
  function openPair() {
    const channels = pair();
    handshake(channels.initiator, channels.responder);
    return channels;
  }

  it('refuses a frame with any single bit flipped (header, ciphertext or tag)', () => {
    const { initiator } = openPair();
    const frame = initiator.seal(bytes(10, 20, 30, 40));
    for (let bit = 0; bit < frame.length * 8; bit++) {
      const { initiator: sender, responder } = openPair();
      const sealed = sender.seal(bytes(10, 20, 30, 40));
      sealed[bit >> 3] ^= 1 << (bit & 7);
      const code = codeOf(responder.receive(sealed));
      expect(
        code === FRAME_UNAUTHENTICATED || code === FRAME_MALFORMED || code === CANNOT_P2P_HANDSHAKE,
        `bit ${bit}: ${code}`,
      ).toBe(true);
      expect(responder.state).toBe('failed');
    }
  });

  it('refuses a replayed frame', () => {
    const { initiator, responder } = openPair();
    const frame = initiator.seal(bytes(1));
    expect(responder.receive(frame).payloads).toEqual([bytes(1)]);
    expect(codeOf(responder.receive(frame))).toBe(FRAME_UNAUTHENTICATED);
  });

  it('refuses reordered frames', () => {
    const { initiator, responder } = openPair();
    initiator.seal(bytes(1));
    const second = initiator.seal(bytes(2));
    expect(codeOf(responder.receive(second))).toBe(FRAME_UNAUTHENTICATED);
  });

  it('refuses a truncated frame, at every length', () => {
    const { initiator } = openPair();
    const frame = initiator.seal(bytes(1, 2, 3, 4, 5, 6, 7, 8));
    for (let length = 0; length < frame.length; length++) {
      const { initiator: sender, responder } = openPair();
      const cut = sender.seal(bytes(1, 2, 3, 4, 5, 6, 7, 8)).subarray(0, length);
      const code = codeOf(responder.receive(cut));
      expect(
        code === FRAME_UNAUTHENTICATED || code === FRAME_MALFORMED,
        `length ${length}: ${code}`,
      ).toBe(true);
    }
  });

  it('refuses a frame sealed for the other direction (reflection)', () => {
    const { initiator } = openPair();
    const frame = initiator.seal(bytes(1));
    const { initiator: victim } = openPair();
    expect(codeOf(victim.receive(frame))).toBe(FRAME_UNAUTHENTICATED);
  });

  it('refuses a frame from another session of the same two nodes', () => {
    const old = pair({ seed: 1 });
    handshake(old.initiator, old.responder);
    const fresh = pair({ seed: 2 });
    handshake(fresh.initiator, fresh.responder);
    expect(codeOf(fresh.responder.receive(old.initiator.seal(bytes(1))))).toBe(
      FRAME_UNAUTHENTICATED,
    );
  });

  it('will not seal before the channel is open', () => {
    const { initiator } = pair();
    expect(() => initiator.seal(bytes(1))).toThrow(/not open/);
  });
});
