// The live-sync bulk on the wire (host/transport/live-sync-frame.ts, docs/FORMATS.md "Live-sync
// frame"): binary frames carrying the snapshot's records byte for byte and the write outcomes
// as 28-byte entries, no JSON, no base64; every other envelope stays JSON. A frame that is short, of another version or kind,
// or has reserved bits set is refused with 38602 FRAME_MALFORMED and nothing else.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE, HsmError } from '../../host/core/codes.ts';
import { BATCH_SIZE_MAX } from '../../host/core/layout.ts';
import type { Envelope } from '../../host/protocol/types.ts';
import { decodeEnvelope, encodeEnvelope } from '../../host/transport/envelope-codec.ts';
import {
  LIVE_SYNC_FRAME_HEADER_SIZE,
  LIVE_SYNC_FRAME_VERSION,
} from '../../host/transport/live-sync-frame.ts';
import { LIVE_SYNC_STREAM_VERSION, RELEASE } from '../../host/protocol/live-sync/donor.ts';
import { toNodeId, toTxId } from '../../host/wire/ids.ts';
import { fromHex, toHex } from '../../host/wire/bytes.ts';
import {
  OUTCOME_ENTRY_SIZE,
  encodeOutcomeEntries,
  type RequestOutcome,
} from '../../host/wire/outcome-entries.ts';
import { thrownCode } from '../fixtures.ts';

const entriesOf = (list: readonly RequestOutcome[]): Uint8Array =>
  encodeOutcomeEntries(list.map(({ requestId, txid, code }) => [requestId, { txid, code }]));

const hexId = fc
  .bigInt({ min: 0n, max: (1n << 64n) - 1n })
  .map((n) => n.toString(16).padStart(16, '0'));
const nodeId = hexId.map(toNodeId);
const chunk: fc.Arbitrary<Envelope> = fc.record({
  from: nodeId,
  to: nodeId,
  epoch: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  digest: fc.string({ maxLength: 256, unit: 'binary' }),
  sp: fc.option(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { nil: undefined }),
  spvv: fc.nat({ max: 0xffff }),
  body: fc.record({
    type: fc.constant('live-sync-chunk' as const),
    session: hexId,
    seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    records: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    data: fc.uint8Array({ maxLength: 600 }),
  }),
});

const outcomes: fc.Arbitrary<Envelope> = fc
  .tuple(
    chunk,
    fc.array(
      fc.record({
        requestId: fc.uint8Array({ minLength: 16, maxLength: 16 }).map(toHex),
        code: fc.integer({ min: -0x7fffffff, max: 0x7fffffff }),
        txid: hexId.map(toTxId),
      }),
      { maxLength: 40 },
    ),
  )
  .map(([envelope, list]) => ({
    ...envelope,
    body: {
      type: 'live-sync-outcomes' as const,
      session: (envelope.body as Chunk).session,
      seq: (envelope.body as Chunk).seq,
      entries: entriesOf(list),
    },
  }));

type Chunk = Extract<Envelope['body'], { type: 'live-sync-chunk' }>;
const sample: Envelope = {
  from: toNodeId('0000000000000001'),
  to: toNodeId('0000000000000002'),
  epoch: 3,
  digest: 'ab12',
  sp: 0x0123456789abcdefn,
  spvv: 7,
  body: {
    type: 'live-sync-chunk',
    session: '00000000000000ff',
    seq: 5,
    records: 2,
    data: Uint8Array.from([1, 0, 0, 0, 42, 1, 0, 0, 0, 43]),
  },
};

const codeOf = (bytes: Uint8Array) => thrownCode(() => decodeEnvelope(bytes));

describe('live-sync frames', () => {
  it('round-trips every valid chunk envelope', () => {
    fc.assert(
      fc.property(chunk, (value) => {
        expect(decodeEnvelope(encodeEnvelope(value))).toEqual(value);
      }),
      { seed: 20261207, numRuns: 300 },
    );
  });

  it('round-trips every valid outcomes envelope, 28 bytes an outcome', () => {
    fc.assert(
      fc.property(outcomes, (value) => {
        const bytes = encodeEnvelope(value);
        const entries = (value.body as Extract<Envelope['body'], { entries: unknown }>).entries;
        expect(bytes.length).toBe(
          LIVE_SYNC_FRAME_HEADER_SIZE + 2 * value.digest.length + entries.length,
        );
        expect(decodeEnvelope(bytes)).toEqual(value);
      }),
      { seed: 20261205, numRuns: 300 },
    );
  });

  it('golden outcomes frame (docs/FORMATS.md "Live-sync frame")', () => {
    const envelope: Envelope = {
      ...sample,
      body: {
        type: 'live-sync-outcomes',
        session: '00000000000000ff',
        seq: 5,
        entries: entriesOf([
          {
            requestId: '00112233445566778899aabbccddeeff',
            code: -36000,
            txid: toTxId('00000000000000aa'),
          },
        ]),
      },
    };
    const golden =
      '48504c5304020100' + // magic HPLS, version 4, kind 2 (outcomes), flags: SP, reserved
      '0000000000000001' + // from
      '0000000000000002' + // to
      '00000000000000ff' + // session
      '0300000000000000' + // epoch 3
      '0500000000000000' + // seq 5
      'efcdab8967452301' + // SP
      '0700' + // SPVV
      '0400' + // digest length, UTF-16 units
      '00000000' + // reserved
      '0100000000000000' + // one outcome
      '6100620031003200' + // digest 'ab12'
      '00112233445566778899aabbccddeeff' + // request id
      '00000000000000aa' + // txid
      '6073ffff'; // code -36000, i32
    expect(toHex(encodeEnvelope(envelope))).toBe(golden);
    expect(decodeEnvelope(fromHex(golden)!)).toEqual(envelope);
  });

  it('refuses an outcomes frame whose entries and count disagree, or past the limit', () => {
    const one = {
      ...sample,
      body: {
        type: 'live-sync-outcomes' as const,
        session: '00000000000000ff',
        seq: 5,
        entries: entriesOf([
          { requestId: 'ab'.repeat(16), code: -36000, txid: toTxId('00000000000000aa') },
        ]),
      },
    };
    const good = encodeEnvelope(one);
    expect(decodeEnvelope(good)).toEqual(one);
    const counted = (count: number): Uint8Array => {
      const copy = good.slice();
      copy[64] = count;
      return copy;
    };
    expect(codeOf(counted(0))).toBe(CODE.FRAME_MALFORMED);
    expect(codeOf(counted(2))).toBe(CODE.FRAME_MALFORMED);
    expect(codeOf(good.subarray(0, good.length - 1))).toBe(CODE.FRAME_MALFORMED);
    // LIVE_SYNC_OUTCOMES_MAX + 1 well-formed entries: the codec's list limit refuses them.
    const many = new Uint8Array(good.length + 4096 * OUTCOME_ENTRY_SIZE);
    many.set(good);
    new DataView(many.buffer).setUint32(64, 4097, true);
    expect(codeOf(many)).toBe(CODE.FRAME_MALFORMED);
    // A code of -2^31 is no return code (they are within ±(2^31 - 1)), as in a JSON outcome.
    const lowest = good.slice();
    lowest.set([0, 0, 0, 0x80], lowest.length - 4);
    expect(codeOf(lowest)).toBe(CODE.FRAME_MALFORMED);
  });

  it('a damaged frame of either kind decodes or is refused with 38602, nothing else', () => {
    const damage = fc.tuple(
      fc.oneof(chunk, outcomes),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.integer({ min: -40, max: 40 }),
    );
    fc.assert(
      fc.property(damage, ([value, writes, resize]) => {
        const good = encodeEnvelope(value);
        const bytes = new Uint8Array(Math.max(0, good.length + resize));
        bytes.set(good.subarray(0, bytes.length));
        // Bytes 0-3 are the magic: past them, so the frame is still taken for one.
        for (const [at, byte] of writes)
          if (bytes.length > 4) bytes[4 + (at % (bytes.length - 4))] = byte;
        expect([undefined, CODE.FRAME_MALFORMED]).toContain(codeOf(bytes));
      }),
      { seed: 20261206, numRuns: 1000 },
    );
  });

  it('carries the records verbatim after a fixed header, with no JSON or base64', () => {
    const bytes = encodeEnvelope(sample);
    const data = (sample.body as { data: Uint8Array }).data;
    expect(bytes.length).toBe(LIVE_SYNC_FRAME_HEADER_SIZE + 2 * sample.digest.length + data.length);
    expect([...bytes.subarray(bytes.length - data.length)]).toEqual([...data]);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('HPLS');
    expect(bytes[4]).toBe(LIVE_SYNC_FRAME_VERSION);
    expect(LIVE_SYNC_FRAME_VERSION).toBe(LIVE_SYNC_STREAM_VERSION);
    // A 1 MiB chunk costs a few dozen bytes more on the wire, not a third more (base64).
    const big = { ...sample, body: { ...sample.body, data: new Uint8Array(BATCH_SIZE_MAX) } };
    expect(encodeEnvelope(big).length).toBeLessThan(BATCH_SIZE_MAX + 100);
  });

  it('refuses a short frame, another version or kind, reserved bits, a digest past the end', () => {
    const good = encodeEnvelope(sample);
    const broken = (at: number, value: number): Uint8Array => {
      const copy = good.slice();
      copy[at] = value;
      return copy;
    };
    for (const bytes of [
      good.subarray(0, LIVE_SYNC_FRAME_HEADER_SIZE - 1),
      broken(4, 1), // stream format 1 had no binary frame
      broken(4, LIVE_SYNC_FRAME_VERSION + 1),
      broken(5, 3), // kinds: 1 chunk, 2 outcomes
      broken(6, 2),
      broken(7, 1),
      broken(60, 1),
      broken(59, 0xff), // digest longer than the frame
      broken(39, 0xff), // epoch past 2^53
    ])
      expect(codeOf(bytes)).toBe(CODE.FRAME_MALFORMED);
    const noSp = encodeEnvelope({ ...sample, sp: undefined });
    noSp[48] = 1; // an SP value without its flag
    expect(codeOf(noSp)).toBe(CODE.FRAME_MALFORMED);
    expect(codeOf(good)).toBeUndefined();
  });

  it('a data field over BATCH_SIZE_MAX is refused on both ends', () => {
    const withData = (length: number): Envelope => ({
      ...sample,
      body: { ...(sample.body as Chunk), data: new Uint8Array(length) },
    });
    expect(() => encodeEnvelope(withData(BATCH_SIZE_MAX + 1))).toThrow(HsmError);
    const bytes = encodeEnvelope(withData(1));
    const grown = new Uint8Array(bytes.length + BATCH_SIZE_MAX);
    grown.set(bytes);
    expect(codeOf(grown)).toBe(CODE.FRAME_MALFORMED);
  });

  it('every other message stays JSON; a request states the stream format, an old one none', () => {
    const request: Envelope = {
      ...sample,
      body: {
        type: 'live-sync-request',
        session: '00000000000000ff',
        address: 'a:1',
        domain: 'pool',
        ...RELEASE,
      },
    };
    const bytes = encodeEnvelope(request);
    expect(bytes[0]).toBe('{'.charCodeAt(0));
    expect(decodeEnvelope(bytes)).toEqual(request);
    const { stream: _stream, ...old } = request.body as { stream: number };
    expect(decodeEnvelope(encodeEnvelope({ ...request, body: old as Envelope['body'] }))).toEqual({
      ...request,
      body: old,
    });
  });
});
