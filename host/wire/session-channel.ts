// The sealed client and console channel (docs/SECURITY.md, docs/CLIENT.md "Sealed frames").
// Browser-safe and synchronous (@noble/ciphers, no WebCrypto promise; a node passes node:crypto's
// ChaCha20-Poly1305, the same bytes), so frames are sealed and opened in exactly the order they
// cross the connection.
//
// After a successful SCRAM exchange both ends hold the session key (scram.ts: HKDF of
// ClientKey over the AuthMessage; only the client and a node that verified its proof can
// compute it). From it each end derives one key per direction. Every frame after the reply to
// login.finish is sealed: ChaCha20-Poly1305 under the direction's key, the nonce is the
// frame's 64-bit counter (per direction, from 0, one step per frame), and the direction's
// label is the AAD. A frame that does not authenticate (read, altered, forged, truncated, from
// another session) or whose counter is not the next one (replayed, reordered, dropped) is
// refused and ends the connection: nothing can be injected into a logged-in session, and
// nothing it carries can be read on the way.
//
// On the wire a sealed frame is the text `{"sealed":"<base64 of counter(8, big-endian) ‖
// ciphertext ‖ tag(16)>"}`; the plaintext inside is the ordinary JSON frame.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import { fromBase64, toBase64 } from './bytes.ts';
import { CHACHA_TAG_SIZE, NOBLE_CHACHA, type ChaChaAead } from './crypto-engine.ts';

export type ChannelRole = 'client' | 'node';

const CLIENT_TO_NODE = 'hsmpool/channel/v1/client-to-node';
const NODE_TO_CLIENT = 'hsmpool/channel/v1/node-to-client';
const COUNTER_SIZE = 8;
const PREFIX = '{"sealed":"';
const SUFFIX = '"}';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The wire length of a sealed frame holding `plaintextBytes` bytes. */
export function sealedLength(plaintextBytes: number): number {
  return (
    PREFIX.length +
    SUFFIX.length +
    4 * Math.ceil((COUNTER_SIZE + plaintextBytes + CHACHA_TAG_SIZE) / 3)
  );
}

/** Whether a text frame has the shape of a sealed frame (it may still fail to open). */
export function isSealedFrame(text: string): boolean {
  return text.startsWith(PREFIX) && text.endsWith(SUFFIX);
}

function directionKey(sessionKey: Uint8Array, label: string): Uint8Array {
  return hkdf(sha256, sessionKey, encoder.encode('hsmpool/channel/v1'), encoder.encode(label), 32);
}

function nonceOf(counter: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, counter);
  return nonce;
}

/** One end of a sealed channel: seals what it sends, opens what it receives, in order. */
export class SessionChannel {
  private readonly sendKey: Uint8Array;
  private readonly receiveKey: Uint8Array;
  private readonly sendLabel: Uint8Array;
  private readonly receiveLabel: Uint8Array;
  private sent = 0n;
  private received = 0n;

  constructor(
    sessionKey: Uint8Array,
    role: ChannelRole,
    private readonly aead: ChaChaAead = NOBLE_CHACHA,
  ) {
    if (sessionKey.length !== 32) throw new RangeError('sessionKey: expected 32 bytes');
    const [send, receive] =
      role === 'client' ? [CLIENT_TO_NODE, NODE_TO_CLIENT] : [NODE_TO_CLIENT, CLIENT_TO_NODE];
    this.sendKey = directionKey(sessionKey, send);
    this.receiveKey = directionKey(sessionKey, receive);
    this.sendLabel = encoder.encode(send);
    this.receiveLabel = encoder.encode(receive);
  }

  seal(text: string): string {
    const counter = this.sent++;
    const out = this.aead.seal(
      this.sendKey,
      nonceOf(counter),
      this.sendLabel,
      encoder.encode(text),
      COUNTER_SIZE,
    );
    new DataView(out.buffer).setBigUint64(0, counter);
    return PREFIX + toBase64(out) + SUFFIX;
  }

  /**
   * The plaintext of the next frame. Throws CHANNEL_PLAINTEXT for a frame that is not sealed,
   * CHANNEL_OUT_OF_SEQUENCE for a counter that is not the next one, CHANNEL_TAMPERED for one
   * that does not authenticate. After a throw the channel is spent: close the connection.
   */
  open(text: string): string {
    if (!isSealedFrame(text))
      throw new HsmError(CODE.CHANNEL_PLAINTEXT, 'a plaintext frame on a sealed session');
    const bytes = fromBase64(text.slice(PREFIX.length, text.length - SUFFIX.length));
    if (!bytes || bytes.length < COUNTER_SIZE + CHACHA_TAG_SIZE)
      throw new HsmError(CODE.CHANNEL_TAMPERED, 'a sealed frame that is cut short');
    const counter = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0);
    if (counter !== this.received)
      throw new HsmError(
        CODE.CHANNEL_OUT_OF_SEQUENCE,
        `frame ${counter} where ${this.received} was due (replayed, reordered or dropped)`,
      );
    const plain = this.aead.open(
      this.receiveKey,
      nonceOf(counter),
      this.receiveLabel,
      bytes.subarray(COUNTER_SIZE),
    );
    if (plain === undefined)
      throw new HsmError(CODE.CHANNEL_TAMPERED, `frame ${counter} does not authenticate`);
    this.received++;
    try {
      return decoder.decode(plain);
    } catch {
      throw new HsmError(CODE.CHANNEL_TAMPERED, `frame ${counter} is not UTF-8`);
    }
  }
}

/** What a node holds per session: the channel in use, and the one the next reply switches to. */
export interface SealedSession {
  channel: SessionChannel | undefined;
  /** Set by a successful login.finish: its (plaintext) reply is the last one before the switch. */
  channelNext: SessionChannel | undefined;
}

/** A frame that arrived at the node: its plaintext, or the refusal to send before closing. */
export type Incoming =
  { readonly text: string } | { readonly refusal: string; readonly code: number };

/** The node opens one arriving frame (call in arrival order, synchronously). */
export function openIncoming(session: SealedSession, text: string): Incoming {
  if (!session.channel) {
    // Before the channel is up only plaintext crosses; a sealed frame then is a stale or forged one.
    if (isSealedFrame(text)) return refusal(CODE.CHANNEL_OUT_OF_SEQUENCE, 'no sealed session');
    return { text };
  }
  try {
    return { text: session.channel.open(text) };
  } catch (error) {
    session.channel = undefined; // spent: the connection closes
    session.channelNext = undefined;
    const failure = error as HsmError;
    return refusal(failure.code, failure.message);
  }
}

/** The node seals one reply as it leaves (call in send order, synchronously). */
export function sealOutgoing(session: SealedSession, text: string): string {
  const out = session.channel ? session.channel.seal(text) : text;
  if (session.channelNext) {
    session.channel = session.channelNext;
    session.channelNext = undefined;
  }
  return out;
}

function refusal(codeNumber: number, message: string): Incoming {
  const failure = new HsmError(codeNumber, message);
  return {
    code: codeNumber,
    refusal: JSON.stringify({
      id: null,
      response: { code: codeNumber, name: failure.codeName, message: failure.detail },
    }),
  };
}
