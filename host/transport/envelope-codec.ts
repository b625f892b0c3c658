// Envelopes on the wire: UTF-8 JSON `{"v":1,"envelope":{...}}`, byte arrays (a PREPARE's
// batch, a forwarded write's records) as standard padded base64, Sync-Points (bigints in the host) as 16
// upper-case hex digits; this is one of the few places an SP becomes text. JSON because a replication message is small
// next to its batch and a readable frame is worth more in a packet capture than the few
// percent a binary layout would save; the batch, the only bulk, is base64.
//
// A peer is trusted with the SVMK but not with being bug-free, so decoding checks every
// field's type and range and builds a fresh object: a well-formed-JSON-but-wrong message is
// refused with 38602 FRAME_MALFORMED, one longer than PEER_MESSAGE_SIZE_MAX with 38601
// FRAME_TOO_LARGE, and nothing else ever escapes. Encoding runs the same checks, so a bug on
// our side is caught before it leaves. Browser-safe.

import { CODE, HsmError } from '../core/codes.ts';
import { BATCH_SIZE_MAX, NODES_MAX, WRITE_OPS_MAX } from '../core/layout.ts';
import {
  EVENT_TYPES,
  EXPECTED_VALUE_SIZE,
  operationSize,
  WRITE_HEADER_SIZE,
  type EventType,
  type Operation,
} from '../core/batch.ts';
import { KIND_NUMBER, type RecordKind } from '../core/records.ts';
import type {
  Envelope,
  ForwardedWrite,
  MembershipEvents,
  MessageBody,
  NodeAddress,
  Transaction,
  TxStatus,
} from '../protocol/types.ts';
import {
  ID64_PATTERN,
  isNodeId,
  isRequestId,
  isTxId,
  type NodeId,
  type TxId,
} from '../wire/ids.ts';
import { areOutcomeEntries, OUTCOME_ENTRY_SIZE } from '../wire/outcome-entries.ts';
import { syncPointHex } from '../core/core.ts';
import {
  decodeLiveSyncFrame,
  encodeLiveSyncFrame,
  isLiveSyncFrame,
  isLiveSyncFrameBody,
} from './live-sync-frame.ts';

export const ENVELOPE_FORMAT_VERSION = 1;
/** An encoded envelope: a 1 MiB batch is 1.34 MiB in base64, the rest is small. */
export const PEER_MESSAGE_SIZE_MAX = 4 << 20;
/** Free-text fields (digest, nonce, user and target names, addresses), in UTF-16 units. */
export const TEXT_LENGTH_MAX = 256;
/** Each list of the grow-only membership events (founders, added, down). */
export const MEMBERSHIP_EVENTS_MAX = 1024;
/** Epochs, ticks: plain JSON numbers, so at most 2^53 - 1. */
const COUNTER_MAX = Number.MAX_SAFE_INTEGER;
const U16_MAX = 0xffff;
/** Return codes in a vote. */
const CODE_MAX = 0x7fffffff;
const BASE64_LENGTH_MAX = Math.ceil(BATCH_SIZE_MAX / 3) * 4;

/** Write outcomes in one live-sync message (28 bytes each in its frame). */
export const LIVE_SYNC_OUTCOMES_MAX = 4096;
/** Transaction ids a member syncing in place lists as decided (LIVE_SYNC_DECIDED_MAX in live-sync.ts). */
export const LIVE_SYNC_DECIDED_MAX = 256;
const EVENT_NAMES = Object.keys(EVENT_TYPES) as EventType[];
const RECORD_KINDS = Object.keys(KIND_NUMBER) as RecordKind[];
const TX_STATUSES: readonly TxStatus[] = [
  'committed',
  'aborted',
  'prepared',
  'undecided',
  'unknown',
];

/** How the fields that are not plain JSON are read: bytes from base64 and Sync-Points from 16
 * upper-case hex digits when decoding; as the Uint8Array and bigint they are when encoding. */
interface Read {
  readonly bytes: (value: unknown, path: string) => Uint8Array;
  readonly sp: (value: unknown, path: string) => bigint;
}
const CHECK: Read = { bytes: checkBytes, sp: checkSp };
const DECODE: Read = { bytes: readBase64, sp: readSp };
/** Checks like decoding does, and puts the wire text in place of the bytes and the Sync-Points
 * as it goes: the copy it builds is the wire object, shaped like an Envelope but holding base64
 * and hex strings where the envelope holds bytes and bigints (hence the casts). It goes straight
 * to JSON.stringify and nowhere else. A replacer function would do the same at 2-3x the cost of
 * stringify itself (bench/envelope.ts); the bytes on the wire are the same. */
const TO_WIRE: Read = {
  bytes: (value, path) => encodeBase64(checkBytes(value, path)) as unknown as Uint8Array,
  sp: (value, path) => syncPointHex(checkSp(value, path)) as unknown as bigint,
};

/** The envelope's bytes, after `headroom` bytes left for the caller's header (a live-sync chunk
 * is a MiB: copying it behind a header would cost a pass over it). */
export function encodeEnvelope(envelope: Envelope, headroom = 0): Uint8Array {
  // The live-sync bulk goes as binary frames (live-sync-frame.ts), checked the same way; a
  // chunk's data is at most BATCH_SIZE_MAX and LIVE_SYNC_OUTCOMES_MAX outcomes are 112 KiB, so
  // a frame stays far below PEER_MESSAGE_SIZE_MAX.
  if (isLiveSyncFrameBody(envelope.body))
    return encodeLiveSyncFrame(parseEnvelope(envelope, CHECK), headroom);
  const checked = parseEnvelope(envelope, TO_WIRE);
  // A joiner has no SP yet: '' on the wire.
  const wire = { ...checked, sp: checked.sp ?? '' };
  const json = JSON.stringify({ v: ENVELOPE_FORMAT_VERSION, envelope: wire });
  const bytes = textEncoder.encode(json);
  if (bytes.length > PEER_MESSAGE_SIZE_MAX)
    throw new HsmError(
      CODE.FRAME_TOO_LARGE,
      `envelope: ${bytes.length} bytes, at most ${PEER_MESSAGE_SIZE_MAX}`,
    );
  if (headroom === 0) return bytes;
  const out = new Uint8Array(headroom + bytes.length);
  out.set(bytes, headroom);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (!(bytes instanceof Uint8Array))
    throw new HsmError(CODE.FRAME_MALFORMED, 'envelope: not bytes');
  if (bytes.length > PEER_MESSAGE_SIZE_MAX)
    throw new HsmError(
      CODE.FRAME_TOO_LARGE,
      `envelope: ${bytes.length} bytes, at most ${PEER_MESSAGE_SIZE_MAX}`,
    );
  try {
    if (isLiveSyncFrame(bytes)) return parseEnvelope(decodeLiveSyncFrame(bytes), CHECK);
    const wire = record(JSON.parse(strictUtf8.decode(bytes)), 'message', ['v', 'envelope']);
    if (wire.v !== ENVELOPE_FORMAT_VERSION)
      fail(`message.v: unknown format version ${JSON.stringify(wire.v)}`);
    return parseEnvelope(wire.envelope, DECODE);
  } catch (error) {
    // JSON.parse, the UTF-8 decoder and anything unforeseen: the bytes are malformed.
    if (error instanceof HsmError) throw error;
    throw new HsmError(
      CODE.FRAME_MALFORMED,
      `envelope: ${error instanceof Error ? error.message : 'undecodable'}`,
    );
  }
}

function parseEnvelope(value: unknown, read: Read): Envelope {
  const o = record(value, 'envelope', ['from', 'to', 'epoch', 'digest', 'sp', 'spvv', 'body']);
  return {
    from: nodeId(o.from, 'envelope.from'),
    to: nodeId(o.to, 'envelope.to'),
    epoch: integer(o.epoch, 'envelope.epoch', 0, COUNTER_MAX),
    digest: text(o.digest, 'envelope.digest'),
    sp: o.sp === undefined || o.sp === '' ? undefined : read.sp(o.sp, 'envelope.sp'),
    spvv: integer(o.spvv, 'envelope.spvv', 0, U16_MAX),
    body: parseBody(o.body, read),
  };
}

function parseBody(value: unknown, read: Read): MessageBody {
  const type = record(value, 'body').type;
  return typeof type === 'string' && type.startsWith('live-sync-')
    ? parseLiveSyncBody(value, type, read)
    : parseReplicationBody(value, type, read);
}

function unknownType(type: unknown): never {
  return fail(`body.type: unknown message type ${JSON.stringify(type)}`);
}

/** The two-phase commit, probes, heartbeats and membership. */
function parseReplicationBody(value: unknown, type: unknown, read: Read): MessageBody {
  const path = 'body';
  switch (type) {
    case 'prepare': {
      const o = record(value, path, ['type', 'tx']);
      return { type, tx: parseTransaction(o.tx, read) };
    }
    case 'vote': {
      const o = record(value, path, ['type', 'txid', 'yes', 'code']);
      return {
        type,
        txid: txid(o.txid, 'body.txid'),
        yes: boolean(o.yes, 'body.yes'),
        code: integer(o.code, 'body.code', 0, CODE_MAX),
      };
    }
    case 'decision': {
      const o = record(value, path, ['type', 'txid', 'commit']);
      return { type, txid: txid(o.txid, 'body.txid'), commit: boolean(o.commit, 'body.commit') };
    }
    case 'ack':
    case 'query': {
      const o = record(value, path, ['type', 'txid']);
      return { type, txid: txid(o.txid, 'body.txid') };
    }
    case 'status': {
      const o = record(value, path, ['type', 'txid', 'status']);
      return {
        type,
        txid: txid(o.txid, 'body.txid'),
        status: oneOf(o.status, 'body.status', TX_STATUSES),
      };
    }
    case 'probe':
    case 'probe-reply': {
      const o = record(value, path, ['type', 'nonce']);
      return { type, nonce: text(o.nonce, 'body.nonce') };
    }
    case 'heartbeat': {
      record(value, path, ['type']);
      return { type };
    }
    case 'membership': {
      const o = record(value, path, ['type', 'membership']);
      return { type, membership: parseMembership(o.membership) };
    }
    case 'forward': {
      const o = record(value, path, ['type', 'write']);
      return { type, write: parseForwardedWrite(o.write, read) };
    }
    case 'forward-reply': {
      const keys = ['type', 'requestId', 'code', 'refused'];
      const o = record(
        value,
        path,
        Object.hasOwn(record(value, path), 'txid') ? [...keys, 'txid'] : keys,
      );
      return {
        type,
        requestId: requestId(o.requestId, 'body.requestId'),
        code: integer(o.code, 'body.code', 0, CODE_MAX),
        ...(o.txid === undefined ? {} : { txid: txid(o.txid, 'body.txid') }),
        refused: boolean(o.refused, 'body.refused'),
      };
    }
    default:
      return unknownType(type);
  }
}

/** The live-sync stream: its messages but the request and refusal carry `session` and `seq`. */
function parseLiveSyncBody(value: unknown, type: string, read: Read): MessageBody {
  const path = 'body';
  const keys = (...rest: string[]): string[] => ['type', 'session', 'seq', ...rest];
  const stream = (o: Record<string, unknown>): { session: string; seq: number } => ({
    session: id(o.session, 'body.session'),
    seq: integer(o.seq, 'body.seq', 0, COUNTER_MAX),
  });
  switch (type) {
    case 'live-sync-request':
      return parseLiveSyncRequest(value, type);
    case 'live-sync-refused': {
      const o = record(value, path, ['type', 'session', 'code']);
      return {
        type,
        session: id(o.session, 'body.session'),
        code: integer(o.code, 'body.code', 0, CODE_MAX),
      };
    }
    case 'live-sync-begin': {
      const o = record(value, path, keys('poolId', 'records', 'bytes', 'header'));
      return {
        type,
        ...stream(o),
        poolId: id(o.poolId, 'body.poolId'),
        records: integer(o.records, 'body.records', 0, COUNTER_MAX),
        bytes: integer(o.bytes, 'body.bytes', 0, COUNTER_MAX),
        header: read.bytes(o.header, 'body.header'),
      };
    }
    case 'live-sync-chunk': {
      const o = record(value, path, keys('records', 'data'));
      return {
        type,
        ...stream(o),
        records: integer(o.records, 'body.records', 0, COUNTER_MAX),
        data: read.bytes(o.data, 'body.data'),
      };
    }
    case 'live-sync-outcomes': {
      const o = record(value, path, keys('entries'));
      return { type, ...stream(o), entries: outcomeEntries(o.entries, read) };
    }
    case 'live-sync-commit': {
      const o = record(value, path, keys('tx', 'sp', 'spvv'));
      return {
        type,
        ...stream(o),
        tx: parseTransaction(o.tx, read),
        sp: read.sp(o.sp, 'body.sp'),
        spvv: integer(o.spvv, 'body.spvv', 0, U16_MAX),
      };
    }
    case 'live-sync-done': {
      const o = record(value, path, keys('membership'));
      return { type, ...stream(o), membership: parseMembership(o.membership) };
    }
    case 'live-sync-ack':
      return { type, ...stream(record(value, path, keys())) };
    default:
      return unknownType(type);
  }
}

function parseLiveSyncRequest(value: unknown, type: 'live-sync-request'): MessageBody {
  const has = (field: string): boolean =>
    typeof value === 'object' && value !== null && Object.hasOwn(value, field);
  const withDecided = has('decided');
  const withRelease = has('version') || has('mode');
  const withStream = has('stream'); // since stream format 2 (LIVE_SYNC_STREAM_VERSION)
  const o = record(value, 'body', [
    'type',
    'session',
    'address',
    'domain',
    ...(withRelease ? ['version', 'mode'] : []),
    ...(withStream ? ['stream'] : []),
    ...(withDecided ? ['decided'] : []),
  ]);
  const request = {
    type,
    session: id(o.session, 'body.session'),
    address: text(o.address, 'body.address'),
    domain: text(o.domain, 'body.domain'),
    ...(withRelease
      ? { version: text(o.version, 'body.version'), mode: text(o.mode, 'body.mode') }
      : {}),
    ...(withStream ? { stream: integer(o.stream, 'body.stream', 0, U16_MAX) } : {}),
  };
  if (!withDecided) return request;
  return { ...request, decided: list(o.decided, 'body.decided', LIVE_SYNC_DECIDED_MAX, txid) };
}

/** A live-sync outcomes item's entries: whole, at most LIVE_SYNC_OUTCOMES_MAX, and each code
 * within ±CODE_MAX (any 16 + 8 bytes are a request id and a txid). */
function outcomeEntries(value: unknown, read: Read): Uint8Array {
  const path = 'body.entries';
  const bytes = read === DECODE ? readBase64(value, path) : checkBytes(value, path);
  if (bytes.length > LIVE_SYNC_OUTCOMES_MAX * OUTCOME_ENTRY_SIZE)
    fail(`${path}: more than ${LIVE_SYNC_OUTCOMES_MAX} outcomes`);
  if (!areOutcomeEntries(bytes))
    fail(`${path}: not whole ${OUTCOME_ENTRY_SIZE}-byte entries with codes within ±${CODE_MAX}`);
  return read === TO_WIRE ? read.bytes(bytes, path) : bytes;
}

function parseTransaction(value: unknown, read: Read): Transaction {
  const o = record(value, 'tx', [
    'txid',
    'epoch',
    'coordinator',
    'participants',
    'nodes',
    'spBefore',
    'spvvBefore',
    'spAfter',
    'spvvAfter',
    'tick',
    'event',
    'sourceUser',
    'target',
    'batch',
  ]);
  return {
    txid: txid(o.txid, 'tx.txid'),
    epoch: integer(o.epoch, 'tx.epoch', 0, COUNTER_MAX),
    coordinator: nodeId(o.coordinator, 'tx.coordinator'),
    participants: list(o.participants, 'tx.participants', NODES_MAX, nodeId),
    nodes: list(o.nodes, 'tx.nodes', NODES_MAX, nodeAddress),
    spBefore: read.sp(o.spBefore, 'tx.spBefore'),
    spvvBefore: integer(o.spvvBefore, 'tx.spvvBefore', 0, U16_MAX),
    spAfter: read.sp(o.spAfter, 'tx.spAfter'),
    spvvAfter: integer(o.spvvAfter, 'tx.spvvAfter', 0, U16_MAX),
    tick: integer(o.tick, 'tx.tick', 0, COUNTER_MAX),
    event: integer(o.event, 'tx.event', 0, U16_MAX),
    sourceUser: text(o.sourceUser, 'tx.sourceUser'),
    target: text(o.target, 'tx.target'),
    batch: read.bytes(o.batch, 'tx.batch'),
  };
}

/** A forwarded write: checked like the batch the core will frame it into (operation kinds,
 * WRITE_OPS_MAX, BATCH_SIZE_MAX), so a coordinator never queues what it cannot carry. */
function parseForwardedWrite(value: unknown, read: Read): ForwardedWrite {
  // On the way out the bytes become base64 as they are read: check them as bytes first.
  if (read === TO_WIRE) parseForwardedWrite(value, CHECK);
  const o = record(value, 'write', ['requestId', 'event', 'operations', 'sourceUser', 'target']);
  const operations = list(o.operations, 'write.operations', WRITE_OPS_MAX, (item, path) =>
    parseOperation(item, path, read),
  );
  if (operations.length === 0) fail('write.operations: empty');
  if (read !== TO_WIRE) {
    const size = WRITE_HEADER_SIZE + operations.reduce((sum, op) => sum + operationSize(op), 0);
    if (size > BATCH_SIZE_MAX) fail(`write: ${size} bytes framed, at most ${BATCH_SIZE_MAX}`);
  }
  return {
    requestId: requestId(o.requestId, 'write.requestId'),
    event: oneOf(o.event, 'write.event', EVENT_NAMES),
    operations,
    sourceUser: text(o.sourceUser, 'write.sourceUser'),
    target: text(o.target, 'write.target'),
  };
}

function parseOperation(value: unknown, path: string, read: Read): Operation {
  const op = record(value, path).op;
  switch (op) {
    case 'insert': {
      const o = record(value, path, ['op', 'record']);
      return { op, record: read.bytes(o.record, `${path}.record`) };
    }
    case 'replace': {
      const hasExpected = Object.hasOwn(record(value, path), 'expected');
      const o = record(value, path, hasExpected ? ['op', 'record', 'expected'] : ['op', 'record']);
      const recordBytes = read.bytes(o.record, `${path}.record`);
      if (!hasExpected) return { op, record: recordBytes };
      const expected = read.bytes(o.expected, `${path}.expected`);
      if (read !== TO_WIRE && expected.length !== EXPECTED_VALUE_SIZE)
        fail(`${path}.expected: ${EXPECTED_VALUE_SIZE} bytes`);
      return { op, record: recordBytes, expected };
    }
    case 'delete': {
      const o = record(value, path, ['op', 'kind', 'name']);
      return {
        op,
        kind: oneOf(o.kind, `${path}.kind`, RECORD_KINDS),
        name: text(o.name, `${path}.name`),
      };
    }
    default:
      return fail(`${path}.op: expected insert, replace or delete`);
  }
}

function requestId(value: unknown, path: string): string {
  if (!isRequestId(value)) fail(`${path}: expected 32 lowercase hex digits`);
  return value;
}

function parseMembership(value: unknown): MembershipEvents {
  const o = record(value, 'membership', ['founders', 'added', 'down']);
  return {
    founders: list(o.founders, 'membership.founders', MEMBERSHIP_EVENTS_MAX, nodeAddress),
    added: list(o.added, 'membership.added', MEMBERSHIP_EVENTS_MAX, nodeAddress),
    down: list(o.down, 'membership.down', MEMBERSHIP_EVENTS_MAX, nodeId),
  };
}

function nodeAddress(value: unknown, path: string): NodeAddress {
  const o = record(value, path, ['id', 'address']);
  return { id: nodeId(o.id, `${path}.id`), address: text(o.address, `${path}.address`) };
}

// ---- Field checks: each names the bad field and throws 38602. ----

function fail(detail: string): never {
  throw new HsmError(CODE.FRAME_MALFORMED, detail);
}

/** A plain object; with `keys`, exactly those own keys (an extra field is a format we do not know). */
function record(value: unknown, path: string, keys?: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(`${path}: expected an object`);
  const o = value as Record<string, unknown>;
  if (keys !== undefined) {
    const present = Object.keys(o);
    const unexpected = present.find((key) => !keys.includes(key));
    if (unexpected !== undefined) fail(`${path}: unexpected field ${JSON.stringify(unexpected)}`);
    const missing = keys.find((key) => !Object.hasOwn(o, key));
    if (missing !== undefined) fail(`${path}.${missing}: missing`);
  }
  return o;
}

function id(value: unknown, path: string): string {
  if (typeof value !== 'string' || !ID64_PATTERN.test(value))
    fail(`${path}: expected 16 lowercase hex digits`);
  return value;
}

function nodeId(value: unknown, path: string): NodeId {
  if (!isNodeId(value)) fail(`${path}: expected 16 lowercase hex digits`);
  return value;
}

function txid(value: unknown, path: string): TxId {
  if (!isTxId(value)) fail(`${path}: expected 16 lowercase hex digits`);
  return value;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(`${path}: expected a string`);
  if (value.length > TEXT_LENGTH_MAX) fail(`${path}: longer than ${TEXT_LENGTH_MAX}`);
  return value;
}

function integer(value: unknown, path: string, minimum: number, maximum: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    fail(`${path}: expected an integer`);
  if (value < minimum || value > maximum)
    fail(`${path}: ${value} is outside [${minimum}, ${maximum}]`);
  return value === 0 ? 0 : value; // -0 would not survive JSON; normalise it here too
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') fail(`${path}: expected true or false`);
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) fail(`${path}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

function list<T>(
  value: unknown,
  path: string,
  maximum: number,
  item: (value: unknown, path: string) => T,
): T[] {
  if (!Array.isArray(value)) fail(`${path}: expected a list`);
  if (value.length > maximum) fail(`${path}: more than ${maximum} items`);
  return value.map((entry, index) => item(entry, `${path}[${index}]`));
}

const SP_PATTERN = /^[0-9A-F]{16}$/;
const SP_MAX = (1n << 64n) - 1n;

function checkSp(value: unknown, path: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > SP_MAX)
    fail(`${path}: expected a 64-bit Sync-Point`);
  return value;
}

function readSp(value: unknown, path: string): bigint {
  if (typeof value !== 'string' || !SP_PATTERN.test(value))
    fail(`${path}: expected 16 upper-case hex digits`);
  return BigInt(`0x${value}`);
}

function checkBytes(value: unknown, path: string): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(`${path}: expected bytes`);
  if (value.length > BATCH_SIZE_MAX)
    fail(`${path}: longer than BATCH_SIZE_MAX (${BATCH_SIZE_MAX} bytes)`);
  return value;
}

function readBase64(value: unknown, path: string): Uint8Array {
  if (typeof value !== 'string') fail(`${path}: expected base64 text`);
  if (value.length > BASE64_LENGTH_MAX)
    fail(`${path}: longer than BATCH_SIZE_MAX (${BATCH_SIZE_MAX} bytes)`);
  const bytes = decodeBase64(value);
  if (bytes === undefined) fail(`${path}: not canonical padded base64`);
  if (bytes.length > BATCH_SIZE_MAX)
    fail(`${path}: longer than BATCH_SIZE_MAX (${BATCH_SIZE_MAX} bytes)`);
  return bytes;
}

// ---- Base64 (RFC 4648, standard alphabet, padded). Node's Buffer is not in browsers and
// Uint8Array.fromBase64 is not in Node 20. Decoding is strict: one encoding per byte string. ----

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUE_OF_CHARACTER = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE_OF_CHARACTER[ALPHABET.charCodeAt(i)] = i;

const ALPHABET_CODES = Uint8Array.from(ALPHABET, (character) => character.charCodeAt(0));
const PADDING_CODE = 61; // '='
const asciiDecoder = new TextDecoder('ascii');
const textEncoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeBase64(bytes: Uint8Array): string {
  // Characters as bytes, then one decode: a string per triple would cost 10x on a 1 MiB batch.
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let at = 0;
  for (let i = 0; i < bytes.length; i += 3) {
    const remaining = bytes.length - i;
    const n =
      (bytes[i] << 16) |
      ((remaining > 1 ? bytes[i + 1] : 0) << 8) |
      (remaining > 2 ? bytes[i + 2] : 0);
    out[at++] = ALPHABET_CODES[(n >> 18) & 63];
    out[at++] = ALPHABET_CODES[(n >> 12) & 63];
    out[at++] = remaining > 1 ? ALPHABET_CODES[(n >> 6) & 63] : PADDING_CODE;
    out[at++] = remaining > 2 ? ALPHABET_CODES[n & 63] : PADDING_CODE;
  }
  return asciiDecoder.decode(out);
}

/** The bytes, or undefined when `text` is not the canonical padded encoding of any. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  const bodyLength = text.length - padding;
  let accumulator = 0;
  let at = 0;
  for (let i = 0; i < bodyLength; i++) {
    const character = text.charCodeAt(i);
    const value = character < 128 ? VALUE_OF_CHARACTER[character] : -1;
    if (value < 0) return undefined; // includes a '=' before the end
    accumulator = (accumulator << 6) | value;
    if (i % 4 === 3) {
      out[at++] = accumulator >> 16;
      out[at++] = (accumulator >> 8) & 0xff;
      out[at++] = accumulator & 0xff;
      accumulator = 0;
    }
  }
  // A padded tail: 2 characters carry 1 byte (+4 spare bits), 3 carry 2 bytes (+2 spare bits).
  // Canonical: the spare bits are zero, so each byte string has exactly one encoding.
  if (padding === 2) {
    if ((accumulator & 0x0f) !== 0) return undefined;
    out[at++] = accumulator >> 4;
  } else if (padding === 1) {
    if ((accumulator & 0x03) !== 0) return undefined;
    out[at++] = (accumulator >> 10) & 0xff;
    out[at++] = (accumulator >> 2) & 0xff;
  }
  return at === out.length ? out : undefined;
}
