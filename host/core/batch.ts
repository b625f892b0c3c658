// Builds operation batches in the wire form assembly/batch.ts applies (docs/FORMATS.md).
// The core validates everything; this only frames.

import { CODE, HsmError } from './codes.ts';
import { OP_DELETE, OP_INSERT, OP_REPLACE, OP_REPLACE_IF } from './layout.ts';
import { KIND_NUMBER, utf8, type RecordKind } from './records.ts';
import { bytesToHex as toHex } from '@noble/hashes/utils.js';

export type Operation =
  | { readonly op: 'insert'; readonly record: Uint8Array }
  /** With `expected` (Core.recordToken of the record read before): only if it is unchanged, else 38209. */
  | { readonly op: 'replace'; readonly record: Uint8Array; readonly expected?: Uint8Array }
  | { readonly op: 'delete'; readonly kind: RecordKind; readonly name: string };

/** DINAMO's replicated event types, the label a write carries for the console and the log. */
export const EVENT_TYPES = {
  NULL: 1,
  CREATE_USR: 2,
  DELETE_USR: 3,
  CREATE_OBJ: 4,
  DELETE_OBJ: 5,
  CHANGE_USR_PWD: 9,
  SET_USR_LOCK_COUNT: 10,
  GLOBAL_SECURITY_POLICY: 11,
  ACL_UPDATE: 13,
  UPDATE_OBJ: 15,
} as const;
export type EventType = keyof typeof EVENT_TYPES;

export const REQUEST_ID_SIZE = 16;
export const WRITE_HEADER_SIZE = 20;

export interface Write {
  readonly event: EventType;
  readonly operations: readonly Operation[];
  /** The client's id for this write (16 bytes): a retry with the same id gets the original outcome. */
  readonly requestId?: Uint8Array;
}

export const EXPECTED_VALUE_SIZE = 16;

function payloadOf(operation: Operation): Uint8Array {
  if (operation.op === 'delete') return utf8(operation.name);
  if (operation.op === 'replace' && operation.expected) {
    if (operation.expected.length !== EXPECTED_VALUE_SIZE)
      throw new RangeError(`expected: ${EXPECTED_VALUE_SIZE} bytes`);
    const payload = new Uint8Array(EXPECTED_VALUE_SIZE + operation.record.length);
    payload.set(operation.expected);
    payload.set(operation.record, EXPECTED_VALUE_SIZE);
    return payload;
  }
  return operation.record;
}

/** Bytes an operation takes in a batch (header included). */
export function operationSize(operation: Operation): number {
  const payload =
    operation.op === 'delete'
      ? utf8(operation.name).length
      : operation.record.length +
        (operation.op === 'replace' && operation.expected ? EXPECTED_VALUE_SIZE : 0);
  return 8 + payload;
}

function opcodeOf(operation: Operation): number {
  if (operation.op === 'insert') return OP_INSERT;
  if (operation.op === 'delete') return OP_DELETE;
  return operation.expected ? OP_REPLACE_IF : OP_REPLACE;
}

export function encodeBatch(writes: readonly Write[]): Uint8Array {
  let size = 4;
  for (const write of writes) {
    size += WRITE_HEADER_SIZE;
    for (const operation of write.operations) size += operationSize(operation);
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, writes.length, true);
  let at = 4;
  for (const write of writes) {
    // The core would refuse a zero byte as a malformed batch; name the real fault instead.
    if (!Object.hasOwn(EVENT_TYPES, write.event))
      throw new HsmError(CODE.INVALID_EVENT, `event '${String(write.event)}'`);
    out[at] = EVENT_TYPES[write.event];
    view.setUint16(at + 2, write.operations.length, true);
    if (write.requestId) {
      if (write.requestId.length !== REQUEST_ID_SIZE)
        throw new RangeError(`requestId: expected ${REQUEST_ID_SIZE} bytes`);
      out.set(write.requestId, at + 4);
    }
    at += WRITE_HEADER_SIZE;
    for (const operation of write.operations) {
      const payload = payloadOf(operation);
      out[at] = opcodeOf(operation);
      out[at + 1] = operation.op === 'delete' ? KIND_NUMBER[operation.kind] : 0;
      view.setUint32(at + 4, payload.length, true);
      out.set(payload, at + 8);
      at += 8 + payload.length;
    }
  }
  return out;
}

/** The request ids of a batch's writes, in order (all-zero ids as undefined). */
export function batchRequestIds(batch: Uint8Array): (Uint8Array | undefined)[] {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const ids: (Uint8Array | undefined)[] = [];
  let at = 4;
  for (let w = 0; w < view.getUint16(0, true); w++) {
    const operations = view.getUint16(at + 2, true);
    const id = batch.slice(at + 4, at + 4 + REQUEST_ID_SIZE);
    ids.push(id.some((byte) => byte !== 0) ? id : undefined);
    at += WRITE_HEADER_SIZE;
    for (let o = 0; o < operations; o++) at += 8 + view.getUint32(at + 4, true);
  }
  return ids;
}

/** The request ids of a batch's writes as 32 lowercase hex digits (undefined: none). */
export function batchRequestIdsHex(batch: Uint8Array): (string | undefined)[] {
  return batchRequestIds(batch).map((id) => id && toHex(id));
}
