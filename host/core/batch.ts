// Builds operation batches in the wire form assembly/batch.ts applies (docs/FORMATS.md).
// The core validates everything; this only frames.

import { OP_DELETE, OP_INSERT, OP_REPLACE } from './layout.ts';
import { KIND_NUMBER, utf8, type RecordKind } from './records.ts';

export type Operation =
  | { readonly op: 'insert'; readonly record: Uint8Array }
  | { readonly op: 'replace'; readonly record: Uint8Array }
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

export interface Write {
  readonly event: EventType;
  readonly operations: readonly Operation[];
}

function payloadOf(operation: Operation): Uint8Array {
  return operation.op === 'delete' ? utf8(operation.name) : operation.record;
}

export function encodeBatch(writes: readonly Write[]): Uint8Array {
  let size = 4;
  for (const write of writes) {
    size += 4;
    for (const operation of write.operations) size += 8 + payloadOf(operation).length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, writes.length, true);
  let at = 4;
  for (const write of writes) {
    out[at] = EVENT_TYPES[write.event];
    view.setUint16(at + 2, write.operations.length, true);
    at += 4;
    for (const operation of write.operations) {
      const payload = payloadOf(operation);
      out[at] = operation.op === 'insert' ? OP_INSERT : operation.op === 'replace' ? OP_REPLACE : OP_DELETE;
      out[at + 1] = operation.op === 'delete' ? KIND_NUMBER[operation.kind] : 0;
      view.setUint32(at + 4, payload.length, true);
      out.set(payload, at + 8);
      at += 8 + payload.length;
    }
  }
  return out;
}
