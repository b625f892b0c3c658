// The envelope codec: any valid envelope survives a round trip; any other input, from random
// bytes to a well-formed message with one field wrong, is refused with 38601 or 38602 and
// nothing else.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BATCH_SIZE_MAX, NODES_MAX, WRITE_OPS_MAX } from '../../host/core/layout.ts';
import { EVENT_TYPES, type EventType, type Operation } from '../../host/core/batch.ts';
import type {
  Envelope,
  ForwardedWrite,
  MessageBody,
  NodeAddress,
  Transaction,
} from '../../host/protocol/types.ts';
import {
  decodeBase64,
  decodeEnvelope,
  encodeBase64,
  encodeEnvelope,
  MEMBERSHIP_EVENTS_MAX,
  PEER_MESSAGE_SIZE_MAX,
  TEXT_LENGTH_MAX,
} from '../../host/transport/envelope-codec.ts';
import { fromBase64, toBase64 } from '../../host/wire/bytes.ts';
import { toNodeId, toTxId } from '../../host/wire/ids.ts';
import { encodeOutcomeEntries } from '../../host/wire/outcome-entries.ts';
import { thrownCode } from '../fixtures.ts';

const FRAME_TOO_LARGE = 38601;
const FRAME_MALFORMED = 38602;
const SEED = 20240605;
/** Fields where any string up to TEXT_LENGTH_MAX is valid. */
const FREE_TEXT = new Set(['digest', 'sourceUser', 'target', 'address', 'nonce']);

const hexId = fc
  .bigInt({ min: 0n, max: (1n << 64n) - 1n })
  .map((n) => n.toString(16).padStart(16, '0'));
const nodeId = hexId.map(toNodeId);
const txId = hexId.map(toTxId);
/** Any code points, lone surrogates included: JSON must carry them faithfully. */
const text = fc.string({ maxLength: 40, unit: 'binary' });
const counter = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const u16 = fc.nat({ max: 0xffff });
const syncPoint = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const nodeAddress: fc.Arbitrary<NodeAddress> = fc.record({ id: nodeId, address: text });

const transaction: fc.Arbitrary<Transaction> = fc.record({
  txid: txId,
  epoch: counter,
  coordinator: nodeId,
  participants: fc.array(nodeId, { maxLength: NODES_MAX }),
  nodes: fc.array(nodeAddress, { maxLength: NODES_MAX }),
  spBefore: syncPoint,
  spvvBefore: u16,
  spAfter: syncPoint,
  spvvAfter: u16,
  tick: counter,
  event: u16,
  sourceUser: text,
  target: text,
  batch: fc.uint8Array({ maxLength: 300 }),
});

const requestIdHex = fc.tuple(hexId, hexId).map(([a, b]) => a + b);
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), record: fc.uint8Array({ maxLength: 64 }) }),
  fc.record(
    {
      op: fc.constant('replace' as const),
      record: fc.uint8Array({ maxLength: 64 }),
      expected: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    },
    { requiredKeys: ['op', 'record'] },
  ),
  fc.record({
    op: fc.constant('delete' as const),
    kind: fc.constantFrom('user' as const, 'object' as const, 'policy' as const),
    name: text,
  }),
);
const forwardedWrite: fc.Arbitrary<ForwardedWrite> = fc.record({
  requestId: requestIdHex,
  event: fc.constantFrom(...(Object.keys(EVENT_TYPES) as EventType[])),
  operations: fc.array(operation, { minLength: 1, maxLength: 4 }),
  sourceUser: text,
  target: text,
});

const body: fc.Arbitrary<MessageBody> = fc.oneof(
  // Forwarding (host/protocol/forwarding.ts).
  fc.record({ type: fc.constant('forward' as const), write: forwardedWrite }),
  fc.record(
    {
      type: fc.constant('forward-reply' as const),
      requestId: requestIdHex,
      code: fc.nat({ max: 0x7fffffff }),
      txid: txId,
      refused: fc.boolean(),
    },
    { requiredKeys: ['type', 'requestId', 'code', 'refused'] },
  ),
  transaction.map((tx) => ({ type: 'prepare' as const, tx })),
  fc.record({
    type: fc.constant('vote' as const),
    txid: txId,
    yes: fc.boolean(),
    code: fc.nat({ max: 0x7fffffff }),
  }),
  fc.record({ type: fc.constant('decision' as const), txid: txId, commit: fc.boolean() }),
  fc.record({ type: fc.constantFrom('ack' as const, 'query' as const), txid: txId }),
  fc.record({
    type: fc.constant('status' as const),
    txid: txId,
    status: fc.constantFrom(
      'committed' as const,
      'aborted' as const,
      'prepared' as const,
      'undecided' as const,
      'unknown' as const,
    ),
  }),
  fc.record({ type: fc.constantFrom('probe' as const, 'probe-reply' as const), nonce: text }),
  fc.record({
    type: fc.constant('membership' as const),
    membership: fc.record({
      founders: fc.array(nodeAddress, { maxLength: 5 }),
      added: fc.array(nodeAddress, { maxLength: 5 }),
      down: fc.array(nodeId, { maxLength: 5 }),
    }),
  }),
  // Live-sync (host/protocol/live-sync/donor.ts).
  fc.record(
    {
      type: fc.constant('live-sync-request' as const),
      session: hexId,
      address: text,
      domain: text,
      version: fc.constant('0.1.0'),
      mode: fc.constant('normal'),
      decided: fc.array(txId, { maxLength: 4 }),
    },
    { requiredKeys: ['type', 'session', 'address', 'domain', 'version', 'mode'] },
  ),
  fc.record({
    type: fc.constant('live-sync-refused' as const),
    session: hexId,
    code: fc.nat({ max: 0x7fffffff }),
  }),
  fc.record({
    type: fc.constant('live-sync-begin' as const),
    session: hexId,
    seq: counter,
    poolId: hexId,
    records: counter,
    bytes: counter,
    header: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.record({
    type: fc.constant('live-sync-chunk' as const),
    session: hexId,
    seq: counter,
    records: counter,
    data: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    type: fc.constant('live-sync-commit' as const),
    session: hexId,
    seq: counter,
    tx: transaction,
    sp: syncPoint,
    spvv: u16,
  }),
  fc.record({
    type: fc.constant('live-sync-done' as const),
    session: hexId,
    seq: counter,
    membership: fc.record({
      founders: fc.array(nodeAddress, { maxLength: 5 }),
      added: fc.array(nodeAddress, { maxLength: 5 }),
      down: fc.array(nodeId, { maxLength: 5 }),
    }),
  }),
  fc.record({ type: fc.constant('live-sync-ack' as const), session: hexId, seq: counter }),
  fc.record({
    type: fc.constant('live-sync-outcomes' as const),
    session: hexId,
    seq: counter,
    entries: fc
      .array(
        fc.tuple(
          fc.tuple(hexId, hexId).map(([a, b]) => a + b),
          fc.record({ code: fc.integer({ min: -0x7fffffff, max: 0x7fffffff }), txid: txId }),
        ),
        { maxLength: 5 },
      )
      .map(encodeOutcomeEntries),
  }),
);

const envelope: fc.Arbitrary<Envelope> = fc.record({
  from: nodeId,
  to: nodeId,
  epoch: counter,
  digest: text,
  sp: fc.option(syncPoint, { nil: undefined }),
  spvv: u16,
  body,
});

function sampleEnvelope(batch = Uint8Array.of(1, 2, 3)): Envelope {
  return {
    from: toNodeId('0000000000000001'),
    to: toNodeId('0000000000000002'),
    epoch: 3,
    digest: '3:00112233aabbccdd',
    sp: 0x0123456789abcdefn,
    spvv: 7,
    body: {
      type: 'prepare',
      tx: {
        txid: toTxId('00000000000000ff'),
        epoch: 3,
        coordinator: toNodeId('0000000000000001'),
        participants: [toNodeId('0000000000000002')],
        nodes: [
          { id: toNodeId('0000000000000001'), address: '10.0.0.1:7001' },
          { id: toNodeId('0000000000000002'), address: '10.0.0.2:7001' },
        ],
        spBefore: 0n,
        spvvBefore: 0,
        spAfter: 0x0123456789abcdefn,
        spvvAfter: 7,
        tick: 12,
        event: 4,
        sourceUser: 'alice',
        target: 'key1',
        batch,
      },
    },
  };
}

const utf8 = (value: string): Uint8Array => new TextEncoder().encode(value);
const wireOf = (value: Envelope): { v: number; envelope: Record<string, unknown> } =>
  JSON.parse(new TextDecoder().decode(encodeEnvelope(value)));
const bytesOf = (wire: unknown): Uint8Array => utf8(JSON.stringify(wire));

function expectCode(run: () => unknown, code: number, what = ''): void {
  expect(thrownCode(run), what).toBe(code);
}

/** Decoding either succeeds or refuses with a documented code: nothing else may escape. */
function decodesOrRefuses(bytes: Uint8Array): void {
  const code = thrownCode(() => decodeEnvelope(bytes));
  expect([undefined, FRAME_TOO_LARGE, FRAME_MALFORMED]).toContain(code);
}

describe('envelope codec', () => {
  it('round-trips every valid envelope', () => {
    fc.assert(
      fc.property(envelope, (value) => {
        expect(decodeEnvelope(encodeEnvelope(value))).toEqual(value);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('writes Sync-Points as 16 upper-case hex digits, a joiner\'s missing one as "", and reads only those', () => {
    const wire = wireOf(sampleEnvelope());
    expect(wire.envelope.sp).toBe('0123456789ABCDEF');
    const tx = (wire.envelope.body as { tx: Record<string, unknown> }).tx;
    expect([tx.spBefore, tx.spAfter]).toEqual(['0000000000000000', '0123456789ABCDEF']);
    const joiner = { ...sampleEnvelope(), sp: undefined };
    expect(wireOf(joiner).envelope.sp).toBe('');
    expect(decodeEnvelope(encodeEnvelope(joiner)).sp).toBeUndefined();
    for (const wrong of [
      '0123456789abcdef',
      '123456789ABCDEF',
      '00123456789ABCDEF',
      '0x23456789ABCDEF',
    ])
      expectCode(
        () => decodeEnvelope(bytesOf({ ...wire, envelope: { ...wire.envelope, sp: wrong } })),
        FRAME_MALFORMED,
        wrong,
      );
    expectCode(() => encodeEnvelope({ ...sampleEnvelope(), sp: 1n << 64n }), FRAME_MALFORMED);
  });

  it('carries a batch of BATCH_SIZE_MAX bytes within PEER_MESSAGE_SIZE_MAX', () => {
    const batch = new Uint8Array(BATCH_SIZE_MAX).map((_, i) => (i * 131) & 0xff);
    const bytes = encodeEnvelope(sampleEnvelope(batch));
    expect(bytes.length).toBeLessThan(PEER_MESSAGE_SIZE_MAX);
    const decoded = decodeEnvelope(bytes);
    // Buffer.equals: a deep toEqual walks a megabyte element by element for seconds.
    expect(
      decoded.body.type === 'prepare' && Buffer.from(decoded.body.tx.batch).equals(batch),
    ).toBe(true);
  });

  it('refuses input longer than PEER_MESSAGE_SIZE_MAX before parsing it', () => {
    expectCode(() => decodeEnvelope(new Uint8Array(PEER_MESSAGE_SIZE_MAX + 1)), FRAME_TOO_LARGE);
  });

  it('refuses bytes that are not UTF-8 JSON, or JSON of another version', () => {
    expectCode(() => decodeEnvelope(utf8('not json')), FRAME_MALFORMED);
    expectCode(() => decodeEnvelope(Uint8Array.of(0x7b, 0xff, 0x7d)), FRAME_MALFORMED);
    expectCode(() => decodeEnvelope(new Uint8Array(0)), FRAME_MALFORMED);
    expectCode(
      () => decodeEnvelope(utf8('['.repeat(100_000) + ']'.repeat(100_000))),
      FRAME_MALFORMED,
    );
    const wire = wireOf(sampleEnvelope());
    expectCode(() => decodeEnvelope(bytesOf({ ...wire, v: 2 })), FRAME_MALFORMED);
    expectCode(() => decodeEnvelope(bytesOf({ ...wire, extra: 1 })), FRAME_MALFORMED);
  });

  it('refuses a well-formed message with any single field of the wrong type, missing, or extra', () => {
    const wrongValues: unknown[] = [null, true, -1, 1.5, 'x', [], {}, 2 ** 60];
    const original = wireOf(sampleEnvelope());
    const paths = leafPaths(original.envelope);
    expect(paths.length).toBeGreaterThan(20);
    for (const path of paths) {
      for (const wrong of wrongValues) {
        const wire = structuredClone(original);
        const before = getAt(wire.envelope, path);
        if (JSON.stringify(before) === JSON.stringify(wrong)) continue;
        if (typeof wrong === 'string' && FREE_TEXT.has(String(path.at(-1)))) continue; // any text is valid there
        setAt(wire.envelope, path, wrong);
        expectCode(() => decodeEnvelope(bytesOf(wire)), FRAME_MALFORMED);
      }
      const without = structuredClone(original);
      deleteAt(without.envelope, path);
      if (!/^\d+$/.test(String(path.at(-1))))
        expectCode(() => decodeEnvelope(bytesOf(without)), FRAME_MALFORMED);
    }
    const extra = structuredClone(original);
    (extra.envelope.body as Record<string, unknown>).surprise = 1;
    expectCode(() => decodeEnvelope(bytesOf(extra)), FRAME_MALFORMED);
  });

  it('refuses a forward or its reply with any single field of the wrong type, missing, or extra', () => {
    const request = '0123456789abcdef0123456789abcdef';
    const forward: MessageBody = {
      type: 'forward',
      write: {
        requestId: request,
        event: 'UPDATE_OBJ',
        operations: [
          { op: 'insert', record: Uint8Array.of(1, 2) },
          { op: 'replace', record: Uint8Array.of(3), expected: new Uint8Array(16) },
          { op: 'delete', kind: 'object', name: 'k1' },
        ],
        sourceUser: 'alice',
        target: 'k1',
      },
    };
    const reply: MessageBody = {
      type: 'forward-reply',
      requestId: request,
      code: 5004,
      txid: toTxId('00000000000000ff'),
      refused: false,
    };
    const optional = new Set(['expected', 'txid']);
    for (const body of [forward, reply]) {
      const original = wireOf({ ...sampleEnvelope(), body });
      for (const path of leafPaths(original.envelope.body).map((p) => ['body', ...p])) {
        for (const wrong of [null, true, -1, 1.5, 'x', [], {}]) {
          const wire = structuredClone(original);
          if (JSON.stringify(getAt(wire.envelope, path)) === JSON.stringify(wrong)) continue;
          const key = String(path.at(-1));
          if (typeof wrong === 'string' && ['sourceUser', 'target', 'name'].includes(key)) continue;
          if (typeof wrong === 'boolean' && key === 'refused') continue; // both are valid
          setAt(wire.envelope, path, wrong);
          expectCode(() => decodeEnvelope(bytesOf(wire)), FRAME_MALFORMED, path.join('.'));
        }
        const without = structuredClone(original);
        deleteAt(without.envelope, path);
        if (!/^\d+$/.test(String(path.at(-1))) && !optional.has(String(path.at(-1))))
          expectCode(() => decodeEnvelope(bytesOf(without)), FRAME_MALFORMED, path.join('.'));
      }
      const extra = structuredClone(original);
      (extra.envelope.body as Record<string, unknown>).surprise = 1;
      expectCode(() => decodeEnvelope(bytesOf(extra)), FRAME_MALFORMED);
    }
    // Out of range: no operation, too many, an `expected` that is not 16 bytes, a write larger
    // than a batch can carry, a request id that is not 32 lowercase hex digits.
    const write = (forward as { write: ForwardedWrite }).write;
    const withWrite = (changes: Partial<ForwardedWrite>): Envelope => ({
      ...sampleEnvelope(),
      body: { type: 'forward', write: { ...write, ...changes } },
    });
    const insert = { op: 'insert' as const, record: Uint8Array.of(1) };
    for (const bad of [
      withWrite({ operations: [] }),
      withWrite({ operations: new Array(WRITE_OPS_MAX + 1).fill(insert) }),
      withWrite({
        operations: [{ op: 'replace', record: Uint8Array.of(1), expected: new Uint8Array(15) }],
      }),
      withWrite({ operations: [{ op: 'insert', record: new Uint8Array(BATCH_SIZE_MAX) }] }),
      withWrite({ requestId: request.toUpperCase() }),
    ])
      expectCode(() => encodeEnvelope(bad), FRAME_MALFORMED);
  });

  it('refuses fields out of range: ids, lengths, list sizes, the batch', () => {
    const tx = ['body', 'tx'];
    const cases: [Path, unknown][] = [
      [['from'], '000000000000000G'],
      [['to'], '00000000000000AB'],
      [['spvv'], 0x10000],
      [['epoch'], -1],
      [['digest'], 'd'.repeat(TEXT_LENGTH_MAX + 1)],
      [[...tx, 'participants'], Array(NODES_MAX + 1).fill('0000000000000002')],
      [[...tx, 'batch'], 'AQID'.repeat(BATCH_SIZE_MAX / 3 + 1)],
      [[...tx, 'batch'], 'AQJ='], // 01 02 with a spare bit set; canonical is AQI=
      [[...tx, 'batch'], 'AQID!'],
      [['body'], { type: 'status', txid: '00000000000000ff', status: 'maybe' }],
      [['body'], { type: 'gossip' }],
      [
        ['body'],
        {
          type: 'membership',
          membership: {
            founders: [],
            added: [],
            down: Array(MEMBERSHIP_EVENTS_MAX + 1).fill('0000000000000002'),
          },
        },
      ],
      [['body'], { type: 'vote', txid: '00000000000000ff', yes: 1, code: 0 }],
    ];
    for (const [index, [path, value]] of cases.entries()) {
      const wire = wireOf(sampleEnvelope());
      setAt(wire.envelope, path, value);
      expectCode(() => decodeEnvelope(bytesOf(wire)), FRAME_MALFORMED, `case ${index}`);
    }
  });

  it('never lets anything but a documented HsmError escape, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => decodesOrRefuses(bytes)),
      { seed: SEED, numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (value) => decodesOrRefuses(bytesOf({ v: 1, envelope: value }))),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('decodes or refuses a valid message with any node of its JSON tree replaced', () => {
    const original = wireOf(sampleEnvelope());
    const paths = allPaths(original.envelope);
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 2 }), (path, replacement) => {
        const wire = structuredClone(original);
        if (path.length === 0) wire.envelope = replacement as Record<string, unknown>;
        else setAt(wire.envelope, path, replacement);
        decodesOrRefuses(bytesOf(wire));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('checks envelopes on the way out too', () => {
    // @ts-expect-error: 'node-1' is no NodeId; what is tested is the check at run time
    expectCode(() => encodeEnvelope({ ...sampleEnvelope(), from: 'node-1' }), FRAME_MALFORMED);
    expectCode(
      () => encodeEnvelope(sampleEnvelope(new Uint8Array(BATCH_SIZE_MAX + 1))),
      FRAME_MALFORMED,
    );
    expectCode(
      () => encodeEnvelope({ ...sampleEnvelope(), extra: 1 } as Envelope),
      FRAME_MALFORMED,
    );
  });
});

// Both strict base64 codecs: the envelope's, and wire/bytes' that SCRAM and every frame rely on.
describe.each([
  ['the envelope codec', encodeBase64, decodeBase64],
  ['wire/bytes', toBase64, fromBase64],
] as const)('base64 of %s', (_name, encode, decode) => {
  it('matches Node and refuses every non-canonical spelling', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const encoded = encode(bytes);
        expect(encoded).toBe(Buffer.from(bytes).toString('base64'));
        expect(decode(encoded)).toEqual(bytes);
      }),
      { seed: SEED, numRuns: 300 },
    );
    for (const bad of [
      'A',
      'AB',
      'ABC',
      'AB=',
      'A===',
      '====',
      'AB=C',
      'AB==AB==',
      'AB==A===',
      'QR==',
      'QUJ=',
      'QUI',
      'QU I',
      'QU I=',
      'QUI-',
      'QUI_',
      'QUI\n',
      'QUJD\n',
      'QU=I',
      'é===',
    ])
      expect(decode(bad), bad).toBeUndefined();
    expect(decode('')).toEqual(new Uint8Array(0));
  });
});

type Path = (string | number)[];

function allPaths(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries = Array.isArray(value)
    ? value.map((v, i) => [i, v] as const)
    : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, child]) => allPaths(child, [...prefix, key]))];
}

/** The paths of `value`'s leaves (what is not an object or array), in the order of allPaths. */
function leafPaths(value: unknown): Path[] {
  return allPaths(value).filter((path) => {
    const node = getAt(value, path);
    return typeof node !== 'object' || node === null;
  });
}

function getAt(root: any, path: Path): unknown {
  return path.reduce((node, key) => node[key], root);
}

function setAt(root: any, path: Path, value: unknown): void {
  (getAt(root, path.slice(0, -1)) as any)[path.at(-1)!] = value;
}

function deleteAt(root: any, path: Path): void {
  delete (getAt(root, path.slice(0, -1)) as any)[path.at(-1)!];
}
