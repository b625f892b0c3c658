// The live-sync bulk on the wire: binary frames, not the JSON envelope. A CHUNK is the bulk of a
// live-sync (the whole store, MiB after MiB) and its records travel as the key store's snapshot
// frames, byte for byte; the OUTCOMES items (up to REQUEST_OUTCOMES_MAX remembered writes, about
// 90 bytes each in JSON) travel as 28-byte entries (wire/outcome-entries.ts). JSON + base64 cost
// more than the rest of the transfer together. docs/FORMATS.md "Live-sync frame" gives the
// layout. The envelope codec (envelope-codec.ts) sends every live-sync-chunk and
// live-sync-outcomes envelope this way, tells a frame from a JSON envelope by its magic, and runs
// the same field checks on both. Browser-safe.

import { CODE, HsmError } from '../core/codes.ts';
import type { Envelope } from '../protocol/types.ts';
import { fromHex, toHex } from '../wire/bytes.ts';
import { nodeIdOf } from '../wire/ids.ts';
import { LIVE_SYNC_STREAM_VERSION } from '../protocol/live-sync/donor.ts';
import { OUTCOME_ENTRY_SIZE } from '../wire/outcome-entries.ts';

/** "HPLS": no JSON envelope starts with it (those start with '{'). */
export const LIVE_SYNC_FRAME_MAGIC = 0x534c5048;
/** The frames' format version; a frame of another version is refused (38602). */
export const LIVE_SYNC_FRAME_VERSION = LIVE_SYNC_STREAM_VERSION;
/** Bytes before the digest and the records. */
export const LIVE_SYNC_FRAME_HEADER_SIZE = 72;
const KIND_CHUNK = 1;
const KIND_OUTCOMES = 2;
const FLAG_SP = 1;
/** The membership digest's UTF-16 units (TEXT_LENGTH_MAX; the codec checks it again). */
const DIGEST_UNITS_MAX = 256;

type Chunk = Extract<Envelope['body'], { type: 'live-sync-chunk' }>;
type Outcomes = Extract<Envelope['body'], { type: 'live-sync-outcomes' }>;

/** Whether `body` travels as a live-sync frame. */
export function isLiveSyncFrameBody(body: Envelope['body'] | undefined): boolean {
  return body?.type === 'live-sync-chunk' || body?.type === 'live-sync-outcomes';
}

/** Whether `bytes` is a live-sync frame (rather than a JSON envelope). */
export function isLiveSyncFrame(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === LIVE_SYNC_FRAME_MAGIC
  );
}

/** Encodes a checked live-sync-chunk or live-sync-outcomes envelope (the envelope codec checked
 * its fields), after `headroom` bytes left for the caller's header. */
export function encodeLiveSyncFrame(envelope: Envelope, headroom = 0): Uint8Array {
  const body = envelope.body as Chunk | Outcomes;
  const digest = envelope.digest;
  const dataAt = LIVE_SYNC_FRAME_HEADER_SIZE + 2 * digest.length;
  const data = body.type === 'live-sync-chunk' ? body.data : body.entries;
  const count =
    body.type === 'live-sync-chunk' ? body.records : body.entries.length / OUTCOME_ENTRY_SIZE;
  const out = new Uint8Array(headroom + dataAt + data.length);
  const frame = out.subarray(headroom);
  const view = new DataView(out.buffer, headroom);
  view.setUint32(0, LIVE_SYNC_FRAME_MAGIC, true);
  frame[4] = LIVE_SYNC_FRAME_VERSION;
  frame[5] = body.type === 'live-sync-chunk' ? KIND_CHUNK : KIND_OUTCOMES;
  frame[6] = envelope.sp === undefined ? 0 : FLAG_SP;
  frame.set(fromHex(envelope.from)!, 8);
  frame.set(fromHex(envelope.to)!, 16);
  frame.set(fromHex(body.session)!, 24);
  view.setBigUint64(32, BigInt(envelope.epoch), true);
  view.setBigUint64(40, BigInt(body.seq), true);
  view.setBigUint64(48, envelope.sp ?? 0n, true);
  view.setUint16(56, envelope.spvv, true);
  view.setUint16(58, digest.length, true); // in UTF-16 units: any string survives
  view.setBigUint64(64, BigInt(count), true);
  for (let i = 0; i < digest.length; i++)
    view.setUint16(LIVE_SYNC_FRAME_HEADER_SIZE + 2 * i, digest.charCodeAt(i), true);
  frame.set(data, dataAt);
  return out;
}

/** Decodes a frame into an envelope whose fields the caller still checks (ranges, text lengths,
 * the data's and the outcomes' limits). Throws 38602 FRAME_MALFORMED on a frame it cannot read.
 * A chunk's records and an outcomes frame's entries are a view into `bytes`, not a copy. */
export function decodeLiveSyncFrame(bytes: Uint8Array): Envelope {
  if (bytes.length < LIVE_SYNC_FRAME_HEADER_SIZE || !isLiveSyncFrame(bytes))
    malformed('shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[4] !== LIVE_SYNC_FRAME_VERSION)
    malformed(`unknown format version ${bytes[4]} (this node reads ${LIVE_SYNC_FRAME_VERSION})`);
  const kind = bytes[5];
  if (kind !== KIND_CHUNK && kind !== KIND_OUTCOMES) malformed(`unknown kind ${kind}`);
  if ((bytes[6] & ~FLAG_SP) !== 0 || bytes[7] !== 0 || view.getUint32(60, true) !== 0)
    malformed('reserved bits set');
  if (!(bytes[6] & FLAG_SP) && view.getBigUint64(48, true) !== 0n) malformed('SP without its flag');
  const digestLength = view.getUint16(58, true);
  const dataAt = LIVE_SYNC_FRAME_HEADER_SIZE + 2 * digestLength;
  if (digestLength > DIGEST_UNITS_MAX || dataAt > bytes.length)
    malformed('digest longer than the frame or its limit');
  let digest = '';
  for (let at = LIVE_SYNC_FRAME_HEADER_SIZE; at < dataAt; at += 2)
    digest += String.fromCharCode(view.getUint16(at, true));
  const stream = {
    session: toHex(bytes.subarray(24, 32)),
    seq: safeInteger(view.getBigUint64(40, true), 'seq'),
  };
  const count = safeInteger(view.getBigUint64(64, true), 'count');
  const data = bytes.subarray(dataAt);
  return {
    from: nodeIdOf(bytes.subarray(8, 16)),
    to: nodeIdOf(bytes.subarray(16, 24)),
    epoch: safeInteger(view.getBigUint64(32, true), 'epoch'),
    digest,
    sp: bytes[6] & FLAG_SP ? view.getBigUint64(48, true) : undefined,
    spvv: view.getUint16(56, true),
    body:
      kind === KIND_CHUNK
        ? { type: 'live-sync-chunk', ...stream, records: count, data }
        : { type: 'live-sync-outcomes', ...stream, entries: outcomeEntries(data, count) },
  };
}

/** The entries of an outcomes frame: exactly `count` of them, nothing after (the envelope codec
 * checks what they hold, as for any outcomes envelope). */
function outcomeEntries(data: Uint8Array, count: number): Uint8Array {
  if (data.length !== count * OUTCOME_ENTRY_SIZE)
    malformed(`${data.length} bytes of outcomes for ${count} entries`);
  return data;
}

function safeInteger(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`${field} out of range`);
  return Number(value);
}

function malformed(why: string): never {
  throw new HsmError(CODE.FRAME_MALFORMED, `live-sync frame: ${why}`);
}
