// The peer link's security: a mutual challenge-response proving both ends hold the pool
// master key (SVMK), then every frame sealed with ChaCha20-Poly1305 under per-direction
// session keys. A pure state machine (bytes in, bytes out, randomness injected), so it runs in
// Node and in a browser and is tested without sockets. docs/TRANSPORT.md has the picture.
//
//   initiator                                                responder
//   HELLO   kind=1 v=1 | initiator id | responder id | Ni   ->
//                             <-  REPLY kind=2 v=1 | responder id | Nr | proof(responder)
//   PROOF   kind=3 | proof(initiator)                        ->
//                             <-  SEALED counter 0, empty: ACCEPT (key confirmation)
//   SEALED  kind=4 | counter u64 BE | ciphertext + 16-byte tag   <->
//
// proof(role) = HMAC-SHA-256(K, transcript | role) with K = deriveKey(svmk, 'peer-auth', 32)
// and transcript = label | version | initiator id | responder id | Ni | Nr: fresh nonces from
// both sides defeat replay, the role byte defeats reflection, the ids bind who talks to whom,
// so a node cannot claim another's id without the SVMK. Any SVMK holder is trusted (DINAMO).
// Session keys: HKDF-SHA-256(deriveKey(svmk, 'peer-session', 32), salt = transcript,
// info = direction), 32 bytes per direction. AEAD nonce = 4 zero bytes | counter; the counter
// must be exactly the next one, so a replayed, reordered or dropped-then-later frame fails.

import { equalBytes } from '@noble/ciphers/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { CODE, HsmError } from '../core/codes.ts';
import { deriveKey, SVMK_SIZE } from '../core/keys.ts';
import { CHACHA_TAG_SIZE, NOBLE_CHACHA, type ChaChaAead } from '../wire/crypto-engine.ts';
import { assertNodeId } from './transport.ts';
import type { NodeId } from '../protocol/types.ts';
import { nodeIdOf, toNodeId } from '../wire/ids.ts';

export const HANDSHAKE_VERSION = 1;
export const NONCE_SIZE = 32;
export const PROOF_SIZE = 32;
const ID_SIZE = 8;
/** Kind byte and counter in front of every sealed frame; they are the AEAD's associated data. */
export const SEALED_HEADER_SIZE = 1 + 8;
/** What sealing adds to a payload. */
export const SEAL_OVERHEAD = SEALED_HEADER_SIZE + CHACHA_TAG_SIZE;
/** Frames per direction; past it the link must be reopened (never near in practice: 2^48). */
export const FRAME_COUNTER_MAX = 2 ** 48;

export const FRAME_KIND = { HELLO: 1, REPLY: 2, PROOF: 3, SEALED: 4 } as const;
const HELLO_SIZE = 2 + 2 * ID_SIZE + NONCE_SIZE;
const REPLY_SIZE = 2 + ID_SIZE + NONCE_SIZE + PROOF_SIZE;
const PROOF_FRAME_SIZE = 1 + PROOF_SIZE;
const TRANSCRIPT_LABEL = utf8ToBytes('hsmpool/peer-auth/v1');
const ROLE_BYTE = { initiator: 0x49, responder: 0x52 } as const; // 'I', 'R'

/** The responder id a HELLO names when the initiator does not know it yet (a probe of an
 * address: `hsmpool node --join HOST:PORT`, discovery). The responder answers with its own id,
 * and the transcript, the proofs and the session keys bind that real id, so the wildcard lets
 * nobody without the SVMK claim anything. No node has this id. */
export const ANY_NODE: NodeId = toNodeId('0000000000000000');

export type ChannelRole = 'initiator' | 'responder';
export type ChannelState =
  | 'idle'
  | 'awaiting-reply'
  | 'awaiting-hello'
  | 'awaiting-proof'
  | 'awaiting-accept'
  | 'open'
  | 'failed';

export interface SecureChannelOptions {
  readonly role: ChannelRole;
  readonly localId: NodeId;
  /** The initiator names the node it means to reach (ANY_NODE: whichever node answers); the
   * responder learns it from HELLO. */
  readonly peerId?: NodeId;
  readonly svmk: Uint8Array;
  /** Cryptographically secure random bytes (crypto.getRandomValues in production). */
  readonly randomBytes: (length: number) => Uint8Array;
  /** The frame AEAD (default NOBLE_CHACHA; Node passes NODE_CHACHA: the same bytes, faster). */
  readonly aead?: ChaChaAead;
}

/** What one step produced: frames to send (in order), payloads received, and the outcome. */
export interface ChannelStep {
  readonly frames: Uint8Array[];
  readonly payloads: Uint8Array[];
  /** True on the step that opened the channel. */
  readonly opened: boolean;
  /** Set once the channel failed; the caller closes the connection (close code from the code). */
  readonly error?: HsmError;
}

interface Directions {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  sendCounter: number;
  receiveCounter: number;
}

export class SecureChannel {
  private stateValue: ChannelState = 'idle';
  private peer: NodeId | undefined;
  private readonly authKey: Uint8Array;
  private readonly sessionBaseKey: Uint8Array;
  private readonly localNonce: Uint8Array;
  private transcriptBytes: Uint8Array | undefined;
  private keys: Directions | undefined;
  private failure: HsmError | undefined;
  private readonly aead: ChaChaAead;

  constructor(private readonly options: SecureChannelOptions) {
    this.aead = options.aead ?? NOBLE_CHACHA;
    assertNodeId(options.localId, 'localId');
    if (options.localId === ANY_NODE)
      throw new RangeError('localId: the all-zero id is the wildcard, no node has it');
    if (options.role === 'initiator') assertNodeId(options.peerId, 'peerId');
    if (options.svmk.length !== SVMK_SIZE)
      throw new RangeError(`svmk: expected ${SVMK_SIZE} bytes, got ${options.svmk.length}`);
    this.authKey = deriveKey(options.svmk, 'peer-auth', 32);
    this.sessionBaseKey = deriveKey(options.svmk, 'peer-session', 32);
    this.localNonce = options.randomBytes(NONCE_SIZE);
    if (this.localNonce.length !== NONCE_SIZE)
      throw new RangeError(`randomBytes: expected ${NONCE_SIZE} bytes`);
    this.peer = options.peerId;
    this.stateValue = options.role === 'initiator' ? 'idle' : 'awaiting-hello';
  }

  get state(): ChannelState {
    return this.stateValue;
  }

  /** The peer's node id: authenticated once the state is 'open'. */
  get peerId(): NodeId | undefined {
    return this.peer;
  }

  get error(): HsmError | undefined {
    return this.failure;
  }

  /** The initiator's first frame (HELLO); nothing for a responder. */
  start(): ChannelStep {
    if (this.options.role !== 'initiator' || this.stateValue !== 'idle') return step([]);
    this.stateValue = 'awaiting-reply';
    const hello = concatBytes(
      Uint8Array.of(FRAME_KIND.HELLO, HANDSHAKE_VERSION),
      hexToBytes(this.options.localId),
      hexToBytes(this.peer!),
      this.localNonce,
    );
    return step([hello]);
  }

  /** One frame from the peer. After a failure every frame is ignored and the error repeated. */
  receive(frame: Uint8Array): ChannelStep {
    if (this.failure !== undefined) return step([], [], false, this.failure);
    try {
      return this.dispatch(frame);
    } catch (error) {
      this.failure =
        error instanceof HsmError ? error : new HsmError(CODE.FRAME_MALFORMED, String(error));
      this.stateValue = 'failed';
      return step([], [], false, this.failure);
    }
  }

  /** Seal one payload for the peer (the channel must be open). */
  seal(payload: Uint8Array): Uint8Array {
    if (this.stateValue !== 'open' || this.keys === undefined)
      throw new Error(`seal: channel is ${this.stateValue}, not open`);
    return this.sealNext(payload);
  }

  private dispatch(frame: Uint8Array): ChannelStep {
    if (frame.length === 0) throw new HsmError(CODE.FRAME_MALFORMED, 'empty frame');
    const kind = frame[0];
    const expected = EXPECTED_KIND[this.stateValue];
    if (kind === FRAME_KIND.SEALED && expected !== FRAME_KIND.SEALED)
      throw new HsmError(CODE.FRAME_UNAUTHENTICATED, 'sealed frame before the handshake finished');
    if (!Object.values(FRAME_KIND).includes(kind as never))
      throw new HsmError(CODE.FRAME_MALFORMED, `unknown frame kind ${kind}`);
    if (kind !== expected)
      throw new HsmError(
        CODE.CANNOT_P2P_HANDSHAKE,
        `frame kind ${kind} in state ${this.stateValue}`,
      );
    if (kind === FRAME_KIND.HELLO) return this.onHello(frame);
    if (kind === FRAME_KIND.REPLY) return this.onReply(frame);
    if (kind === FRAME_KIND.PROOF) return this.onProof(frame);
    return this.onSealed(frame);
  }

  /** Responder: check the HELLO, answer with our nonce and our proof. */
  private onHello(frame: Uint8Array): ChannelStep {
    checkLength(frame, HELLO_SIZE, 'HELLO');
    checkVersion(frame[1]);
    const initiatorId = nodeIdOf(frame.subarray(2, 2 + ID_SIZE));
    const responderId = nodeIdOf(frame.subarray(2 + ID_SIZE, 2 + 2 * ID_SIZE));
    if (responderId !== this.options.localId && responderId !== ANY_NODE)
      throw new HsmError(
        CODE.PEER_ID_MISMATCH,
        `HELLO is for node ${responderId}, this is ${this.options.localId}`,
      );
    if (initiatorId === this.options.localId || initiatorId === ANY_NODE)
      throw new HsmError(
        CODE.PEER_ID_MISMATCH,
        `HELLO claims ${initiatorId === ANY_NODE ? 'the wildcard id' : "this node's own id"}`,
      );
    this.peer = initiatorId;
    const initiatorNonce = frame.slice(2 + 2 * ID_SIZE);
    // The transcript names this node's real id even when the HELLO named ANY_NODE.
    this.transcriptBytes = transcript(
      initiatorId,
      this.options.localId,
      initiatorNonce,
      this.localNonce,
    );
    this.stateValue = 'awaiting-proof';
    const reply = concatBytes(
      Uint8Array.of(FRAME_KIND.REPLY, HANDSHAKE_VERSION),
      hexToBytes(this.options.localId),
      this.localNonce,
      this.proof('responder'),
    );
    return step([reply]);
  }

  /** Initiator: the responder proved the key; prove ours. */
  private onReply(frame: Uint8Array): ChannelStep {
    checkLength(frame, REPLY_SIZE, 'REPLY');
    checkVersion(frame[1]);
    const responderId = nodeIdOf(frame.subarray(2, 2 + ID_SIZE));
    const responderNonce = frame.slice(2 + ID_SIZE, 2 + ID_SIZE + NONCE_SIZE);
    const theirProof = frame.subarray(2 + ID_SIZE + NONCE_SIZE);
    this.transcriptBytes = transcript(
      this.options.localId,
      responderId,
      this.localNonce,
      responderNonce,
    );
    // Check the proof before the id: with another SVMK the id it names means nothing.
    if (!equalBytes(theirProof, this.proof('responder')))
      throw new HsmError(CODE.SVMK_MISMATCH, "the peer's proof does not verify under our SVMK");
    if (this.peer === ANY_NODE) {
      if (responderId === this.options.localId || responderId === ANY_NODE)
        throw new HsmError(CODE.PEER_ID_MISMATCH, `the address answers as ${responderId}`);
      this.peer = responderId;
    } else if (responderId !== this.peer)
      throw new HsmError(
        CODE.PEER_ID_MISMATCH,
        `expected node ${this.peer}, the address answers as ${responderId}`,
      );
    this.keys = this.deriveSessionKeys();
    this.stateValue = 'awaiting-accept';
    return step([concatBytes(Uint8Array.of(FRAME_KIND.PROOF), this.proof('initiator'))]);
  }

  /** Responder: the initiator proved the key; confirm with the first sealed frame. */
  private onProof(frame: Uint8Array): ChannelStep {
    checkLength(frame, PROOF_FRAME_SIZE, 'PROOF');
    if (!equalBytes(frame.subarray(1), this.proof('initiator')))
      throw new HsmError(CODE.SVMK_MISMATCH, "the peer's proof does not verify under our SVMK");
    this.keys = this.deriveSessionKeys();
    this.stateValue = 'open';
    return step([this.sealNext(new Uint8Array(0))], [], true);
  }

  private onSealed(frame: Uint8Array): ChannelStep {
    const payload = this.open(frame);
    if (this.stateValue === 'awaiting-accept') {
      if (payload.length !== 0)
        throw new HsmError(CODE.CANNOT_P2P_HANDSHAKE, 'ACCEPT carries a payload');
      this.stateValue = 'open';
      return step([], [], true);
    }
    return step([], [payload]);
  }

  private open(frame: Uint8Array): Uint8Array {
    const keys = this.keys!;
    if (frame.length < SEAL_OVERHEAD)
      throw new HsmError(
        CODE.FRAME_UNAUTHENTICATED,
        'sealed frame shorter than its header and tag',
      );
    const counter = readCounter(frame);
    if (counter !== keys.receiveCounter)
      throw new HsmError(
        CODE.FRAME_UNAUTHENTICATED,
        `frame counter ${counter}, expected ${keys.receiveCounter} (replayed, reordered or lost)`,
      );
    const payload = this.aead.open(
      keys.receiveKey,
      nonceOf(counter),
      frame.subarray(0, SEALED_HEADER_SIZE),
      frame.subarray(SEALED_HEADER_SIZE),
    );
    if (payload === undefined)
      throw new HsmError(
        CODE.FRAME_UNAUTHENTICATED,
        `frame ${counter} fails authentication (tampered or truncated)`,
      );
    keys.receiveCounter++;
    return payload;
  }

  private sealNext(payload: Uint8Array): Uint8Array {
    const keys = this.keys!;
    if (keys.sendCounter >= FRAME_COUNTER_MAX)
      throw new Error('seal: FRAME_COUNTER_MAX reached; reopen the link');
    const header = new Uint8Array(SEALED_HEADER_SIZE);
    header[0] = FRAME_KIND.SEALED;
    writeCounter(header, keys.sendCounter);
    const frame = this.aead.seal(
      keys.sendKey,
      nonceOf(keys.sendCounter),
      header,
      payload,
      SEALED_HEADER_SIZE,
    );
    frame.set(header, 0);
    keys.sendCounter++;
    return frame;
  }

  private proof(role: ChannelRole): Uint8Array {
    return hmac(
      sha256,
      this.authKey,
      concatBytes(this.transcriptBytes!, Uint8Array.of(ROLE_BYTE[role])),
    );
  }

  private deriveSessionKeys(): Directions {
    const both = hkdf(
      sha256,
      this.sessionBaseKey,
      this.transcriptBytes!,
      utf8ToBytes('hsmpool/peer-session/v1/initiator-to-responder|responder-to-initiator'),
      64,
    );
    const initiatorToResponder = both.slice(0, 32);
    const responderToInitiator = both.slice(32);
    const initiator = this.options.role === 'initiator';
    return {
      sendKey: initiator ? initiatorToResponder : responderToInitiator,
      receiveKey: initiator ? responderToInitiator : initiatorToResponder,
      sendCounter: 0,
      receiveCounter: 0,
    };
  }
}

/** The kind of frame each state waits for. */
const EXPECTED_KIND: Readonly<Record<ChannelState, number>> = {
  idle: -1,
  'awaiting-reply': FRAME_KIND.REPLY,
  'awaiting-hello': FRAME_KIND.HELLO,
  'awaiting-proof': FRAME_KIND.PROOF,
  'awaiting-accept': FRAME_KIND.SEALED,
  open: FRAME_KIND.SEALED,
  failed: -1,
};

function step(
  frames: Uint8Array[],
  payloads: Uint8Array[] = [],
  opened = false,
  error?: HsmError,
): ChannelStep {
  return error === undefined ? { frames, payloads, opened } : { frames, payloads, opened, error };
}

function transcript(
  initiatorId: NodeId,
  responderId: NodeId,
  initiatorNonce: Uint8Array,
  responderNonce: Uint8Array,
): Uint8Array {
  return concatBytes(
    TRANSCRIPT_LABEL,
    Uint8Array.of(HANDSHAKE_VERSION),
    hexToBytes(initiatorId),
    hexToBytes(responderId),
    initiatorNonce,
    responderNonce,
  );
}

function checkLength(frame: Uint8Array, size: number, what: string): void {
  if (frame.length !== size)
    throw new HsmError(CODE.FRAME_MALFORMED, `${what}: ${frame.length} bytes, expected ${size}`);
}

function checkVersion(version: number): void {
  if (version !== HANDSHAKE_VERSION)
    throw new HsmError(
      CODE.CANNOT_P2P_HANDSHAKE,
      `handshake version ${version}, this node speaks ${HANDSHAKE_VERSION}`,
    );
}

function nonceOf(counter: number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(counter));
  return nonce;
}

function readCounter(frame: Uint8Array): number {
  return Number(new DataView(frame.buffer, frame.byteOffset + 1, 8).getBigUint64(0));
}

function writeCounter(header: Uint8Array, counter: number): void {
  new DataView(header.buffer, header.byteOffset + 1, 8).setBigUint64(0, BigInt(counter));
}
