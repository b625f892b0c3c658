// The live-sync CHUNK on the wire: a binary frame, not the JSON envelope. A chunk is the bulk
// of a live-sync (the whole store, MiB after MiB), and JSON + base64 cost more than the rest of
// the transfer together; its records travel as the key store's snapshot frames, byte for byte.
// docs/FORMATS.md "Live-sync chunk frame" gives the layout. The envelope codec
// (envelope-codec.ts) sends every live-sync-chunk envelope this way, tells the frame from a
// JSON envelope by its magic, and runs the same field checks on both. Browser-safe.

import { CODE, HsmError } from '../core/codes.ts';
import type { Envelope } from '../protocol/types.ts';
import { fromHex, toHex } from '../wire/bytes.ts';
import { nodeIdOf } from '../wire/ids.ts';
import { LIVE_SYNC_STREAM_VERSION } from '../protocol/live-sync/donor.ts';

/** "HPLS": no JSON envelope starts with it (those start with '{'). */
export const LIVE_SYNC_FRAME_MAGIC = 0x534c5048;
/** The chunk frame's format version; a frame of another version is refused (38602). */
export const LIVE_SYNC_FRAME_VERSION = LIVE_SYNC_STREAM_VERSION;
/** Bytes before the digest and the records. */
export const LIVE_SYNC_FRAME_HEADER_SIZE = 72;
const KIND_CHUNK = 1;
const FLAG_SP = 1;
/** The membership digest's UTF-16 units (TEXT_LENGTH_MAX; the codec checks it again). */
const DIGEST_UNITS_MAX = 256;

type Chunk = Extract<Envelope['body'], { type: 'live-sync-chunk' }>;

/** Whether `bytes` is a live-sync chunk frame (rather than a JSON envelope). */
export function isLiveSyncFrame(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === LIVE_SYNC_FRAME_MAGIC
  );
}

/** Encodes a checked live-sync-chunk envelope (the envelope codec checked its fields). */
export function encodeLiveSyncFrame(envelope: Envelope): Uint8Array {
  const body = envelope.body as Chunk;
  const digest = envelope.digest;
  const dataAt = LIVE_SYNC_FRAME_HEADER_SIZE + 2 * digest.length;
  const frame = new Uint8Array(dataAt + body.data.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, LIVE_SYNC_FRAME_MAGIC, true);
  frame[4] = LIVE_SYNC_FRAME_VERSION;
  frame[5] = KIND_CHUNK;
  frame[6] = envelope.sp === undefined ? 0 : FLAG_SP;
  frame.set(fromHex(envelope.from)!, 8);
  frame.set(fromHex(envelope.to)!, 16);
  frame.set(fromHex(body.session)!, 24);
  view.setBigUint64(32, BigInt(envelope.epoch), true);
  view.setBigUint64(40, BigInt(body.seq), true);
  view.setBigUint64(48, envelope.sp ?? 0n, true);
  view.setUint16(56, envelope.spvv, true);
  view.setUint16(58, digest.length, true); // in UTF-16 units: any string survives
  view.setBigUint64(64, BigInt(body.records), true);
  for (let i = 0; i < digest.length; i++)
    view.setUint16(LIVE_SYNC_FRAME_HEADER_SIZE + 2 * i, digest.charCodeAt(i), true);
  frame.set(body.data, dataAt);
  return frame;
}

/** Decodes a chunk frame into an envelope whose fields the caller still checks (ranges, text
 * lengths, the data's size limit). Throws 38602 FRAME_MALFORMED on a frame it cannot read.
 * The records are a view into `bytes`, not a copy. */
export function decodeLiveSyncFrame(bytes: Uint8Array): Envelope {
  if (bytes.length < LIVE_SYNC_FRAME_HEADER_SIZE || !isLiveSyncFrame(bytes))
    malformed('shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[4] !== LIVE_SYNC_FRAME_VERSION)
    malformed(`unknown format version ${bytes[4]} (this node reads ${LIVE_SYNC_FRAME_VERSION})`);
  if (bytes[5] !== KIND_CHUNK) malformed(`unknown kind ${bytes[5]}`);
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
  return {
    from: nodeIdOf(bytes.subarray(8, 16)),
    to: nodeIdOf(bytes.subarray(16, 24)),
    epoch: safeInteger(view.getBigUint64(32, true), 'epoch'),
    digest,
    sp: bytes[6] & FLAG_SP ? view.getBigUint64(48, true) : undefined,
    spvv: view.getUint16(56, true),
    body: {
      type: 'live-sync-chunk',
      session: toHex(bytes.subarray(24, 32)),
      seq: safeInteger(view.getBigUint64(40, true), 'seq'),
      records: safeInteger(view.getBigUint64(64, true), 'records'),
      data: bytes.subarray(dataAt),
    },
  };
}

function safeInteger(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`${field} out of range`);
  return Number(value);
}

function malformed(why: string): never {
  throw new HsmError(CODE.FRAME_MALFORMED, `live-sync chunk frame: ${why}`);
}
