// The pool's ids and their one pattern each, shared by the SDK and the node (browser-safe).
// On the wire and in JSON they are lowercase hex strings; in batches, log entries and outcome
// blobs they are their bytes. The types are branded: a value gets one by passing its check.

import { hexToBytes } from '@noble/hashes/utils.js';
import { toHex, toHex64 } from './bytes.ts';

declare const brand: unique symbol;
type Branded<Base, Name extends string> = Base & { readonly [brand]: Name };

/** A pool member: 16 lowercase hex digits (a 64-bit id drawn when the node is created). */
export type NodeId = Branded<string, 'NodeId'>;
/** A transaction: 16 lowercase hex digits (64-bit pseudo-random, as DINAMO's). */
export type TxId = Branded<string, 'TxId'>;
/** A write: 32 lowercase hex digits, the same on every retry of it. */
export type RequestId = Branded<string, 'RequestId'>;

/** Any 64-bit id as text: node, transaction, pool, live-sync session, backup. */
export const ID64_PATTERN = /^[0-9a-f]{16}$/;
export const REQUEST_ID_PATTERN = /^[0-9a-f]{32}$/;
export const NODE_ID_SIZE = 8;
export const TX_ID_SIZE = 8;
export const REQUEST_ID_SIZE = 16;

/** Whether `value` is `digits` lowercase hex digits: what the patterns above match, by a loop,
 * because ids are checked by the hundred thousand (each live-sync outcome twice) and a regex
 * call costs several times this. */
function isLowerHex(value: unknown, digits: number): boolean {
  if (typeof value !== 'string' || value.length !== digits) return false;
  for (let i = 0; i < digits; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

export function isNodeId(value: unknown): value is NodeId {
  return isLowerHex(value, 2 * NODE_ID_SIZE);
}

export function isTxId(value: unknown): value is TxId {
  return isLowerHex(value, 2 * TX_ID_SIZE);
}

export function isRequestId(value: unknown): value is RequestId {
  return isLowerHex(value, 2 * REQUEST_ID_SIZE);
}

/** The 16 bytes a request id is stored as; RangeError naming `what` if it is not one. */
export function requestIdBytes(id: string, what = 'requestId'): Uint8Array {
  if (!isRequestId(id)) throw new RangeError(`${what}: expected 32 lowercase hex digits`);
  return hexToBytes(id);
}

/** The 8 bytes a transaction id is stored as; RangeError naming `what` if it is not one. */
export function txIdBytes(id: string, what = 'txid'): Uint8Array {
  if (!isTxId(id)) throw new RangeError(`${what}: expected 16 lowercase hex digits`);
  return hexToBytes(id);
}

export function requestIdOf(bytes: Uint8Array): RequestId {
  if (bytes.length !== REQUEST_ID_SIZE) throw new RangeError('requestId: 16 bytes');
  return toHex(bytes) as RequestId;
}

/** A node id from its text, checked (RangeError if it is not 16 lowercase hex digits). */
export function toNodeId(text: string): NodeId {
  if (!isNodeId(text)) throw new RangeError('node id: expected 16 lowercase hex digits');
  return text;
}

/** A node id from its 64-bit number (as log entries and membership lists on disk store it). */
export function nodeIdOfNumber(value: bigint): NodeId {
  return toNodeId(toHex64(value));
}

/** A node id from its 8 bytes (as handshakes and live-sync frames carry it). */
export function nodeIdOf(bytes: Uint8Array): NodeId {
  if (bytes.length !== NODE_ID_SIZE) throw new RangeError('node id: 8 bytes');
  return toHex(bytes) as NodeId;
}

/** A transaction id from its text, checked (RangeError if it is not 16 lowercase hex digits). */
export function toTxId(text: string): TxId {
  if (!isTxId(text)) throw new RangeError('txid: expected 16 lowercase hex digits');
  return text;
}

/** A transaction id from its 64-bit number (as log entries store it). */
export function txIdOfNumber(value: bigint): TxId {
  return toTxId(toHex64(value));
}

export function txIdOf(bytes: Uint8Array): TxId {
  if (bytes.length !== TX_ID_SIZE) throw new RangeError('txid: 8 bytes');
  return toHex(bytes) as TxId;
}
