// The log entry codec: golden vectors (stability), the checksum and chain rules checked
// independently, one test per refusal code, the encoder refusing what the decoder would,
// and a round-trip property on both builds.
// Regenerate the vectors only when the format changes on purpose:
//   UPDATE_TXLOG_VECTORS=1 npx vitest run test/core/txlog.test.ts

import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../../host/core/batch.ts';
import { HsmError } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import {
  LOG_HEADER_SIZE,
  LogEncoder,
  ZERO_CHECKSUM,
  checkEntry,
  decodeEntry,
  encodeEntry,
  scanLog,
  type EntryBody,
} from '../../host/core/txlog.ts';
import { LOG_ENTRY_SIZE_MAX } from '../../host/core/layout.ts';
import { fromHex, keyedCore, toHex } from '../fixtures.ts';
import {
  POOL,
  concat,
  encodeChain,
  independentlyChecked,
  reseal,
  sampleChain,
  sampleLog,
  samplePrepare,
  shown,
} from '../txlog-helpers.ts';
import { bodiesArbitrary, encodeBodies } from '../txlog-arbitraries.ts';

const VECTORS = new URL('../vectors/txlog.json', import.meta.url);
const header = { poolId: POOL, epoch: 1n, sequence: 5n, transactionId: 0x42n };

/** Each crafted entry and the code the decoder must give. */
function errorCases(core: Core): { name: string; bytes: Uint8Array; code: number }[] {
  const { entries } = encodeChain(core, sampleChain(core));
  const commit = entries[2];
  const edit = (
    bytes: Uint8Array,
    change: (view: DataView, out: Uint8Array) => void,
    resealed = true,
  ): Uint8Array => {
    const out = bytes.slice();
    change(new DataView(out.buffer), out);
    return resealed ? reseal(core, out) : out;
  };
  const flip = (at: number, mask: number) => (view: DataView) =>
    view.setUint8(at, view.getUint8(at) ^ mask);
  const cases: [string, Uint8Array, number][] = [
    ['truncated header', commit.subarray(0, LOG_HEADER_SIZE - 1), 38301],
    ['truncated body', commit.subarray(0, commit.length - 1), 38301],
    ['bad magic', edit(commit, flip(0, 1)), 38302],
    ['unknown version', edit(commit, (v) => v.setUint16(4, 2, true)), 38303],
    ['header checksum', edit(commit, flip(20, 0x80), false), 38304],
    ['body checksum', edit(commit, flip(LOG_HEADER_SIZE, 1), false), 38305],
    [
      'first entry with a parent',
      edit(commit, (v) => {
        v.setBigUint64(32, 1n, true);
        v.setUint8(64, 1);
      }),
      38306,
    ],
    ['bad type', edit(commit, (v) => v.setUint8(6, 8), true), 38307],
    [
      'oversize',
      edit(commit, (v) => v.setUint32(8, LOG_ENTRY_SIZE_MAX - LOG_HEADER_SIZE + 1, true)),
      38308,
    ],
    ['reserved header byte', edit(commit, (v) => v.setUint8(85, 1)), 38309],
    ['reserved body byte', edit(commit, (v) => v.setUint8(LOG_HEADER_SIZE + 15, 1)), 38309],
    ['wrong pool', edit(commit, (v) => v.setBigUint64(16, POOL + 1n, true)), 38310],
    [
      'COMMIT of 17 bytes',
      edit(concat([commit, new Uint8Array(1)]), (v) => v.setUint32(8, 17, true)),
      38311,
    ],
    ['zero transaction id', edit(commit, (v) => v.setBigUint64(40, 0n, true)), 38311],
    [
      'PREPARE with a batch of 0 writes',
      edit(entries[1], (v, b) =>
        v.setUint16(b.length - v.getUint32(LOG_HEADER_SIZE + 44, true), 0, true),
      ),
      38311,
    ],
    [
      'EPOCH_RAISED not above',
      edit(entries[7], (v) => v.setBigUint64(LOG_HEADER_SIZE, 1n, true)),
      38311,
    ],
    [
      'CHECKPOINT sequence',
      edit(entries[8], (v) => v.setBigUint64(LOG_HEADER_SIZE, 3n, true)),
      38311,
    ],
  ];
  return cases.map(([name, bytes, code]) => ({ name, bytes, code }));
}

function buildVectors(core: Core): unknown {
  const items = sampleChain(core);
  const { entries } = encodeChain(core, items);
  return {
    description:
      'Transaction log entries (docs/FORMATS.md, "Transaction log"): one chain of one entry of each type, pool ' +
      `0x${POOL.toString(16)}. Each hex must decode to its entry and re-encode to the same bytes; each error case must be refused with its code.`,
    entries: entries.map((bytes) => ({
      entry: shown(decodeEntry(core, bytes, POOL)),
      hex: toHex(bytes),
    })),
    errors: errorCases(core).map((c) => ({ name: c.name, code: c.code, hex: toHex(c.bytes) })),
  };
}

if (process.env.UPDATE_TXLOG_VECTORS)
  writeFileSync(VECTORS, JSON.stringify(buildVectors(keyedCore()), null, 2) + '\n');
const vectors = JSON.parse(readFileSync(VECTORS, 'utf8'));

describe.each(['release', 'scalar'] as const)('log entry vectors on the %s build', (variant) => {
  it('encoding the sample chain gives the golden bytes, and they decode to the golden entries', () => {
    const core = keyedCore(variant);
    const { entries } = encodeChain(core, sampleChain(core));
    expect(entries.map(toHex)).toEqual(vectors.entries.map((v: { hex: string }) => v.hex));
    for (const vector of vectors.entries)
      expect(shown(decodeEntry(core, fromHex(vector.hex), POOL))).toEqual(vector.entry);
  });

  it('every error vector is refused with its code', () => {
    const core = keyedCore(variant);
    expect(vectors.errors.length).toBe(17);
    for (const vector of vectors.errors)
      expect([vector.name, checkEntry(core, fromHex(vector.hex), POOL)]).toEqual([
        vector.name,
        vector.code,
      ]);
  });

  it('the golden chain scans clean', () => {
    const core = keyedCore(variant);
    const log = fromHex(vectors.entries.map((v: { hex: string }) => v.hex).join(''));
    const result = scanLog(core, log, { poolId: POOL });
    expect([result.tail, result.entries, result.validLength]).toEqual([
      'clean',
      vectors.entries.length,
      log.length,
    ]);
  });
});

describe('the checksum and chain rules, recomputed outside the core', () => {
  it('header checksum over bytes 0..95, body checksum over the body, parent = previous header checksum', () => {
    const { core, entries } = sampleLog();
    let parent = ZERO_CHECKSUM;
    for (const bytes of entries) {
      expect(independentlyChecked(core, bytes, parent)).toBeUndefined();
      parent = bytes.slice(96, 112);
    }
  });

  it('the first entry of a log has a zero parent; later ones name their predecessor', () => {
    const { core, entries } = sampleLog();
    expect(decodeEntry(core, entries[0]).parent).toEqual(ZERO_CHECKSUM);
    expect(decodeEntry(core, entries[1]).parent).toEqual(decodeEntry(core, entries[0]).checksum);
  });
});

describe('decoding', () => {
  it('decodeEntry throws HsmError with the reason; checkEntry returns it', () => {
    const core = keyedCore();
    for (const c of errorCases(core)) {
      expect(checkEntry(core, c.bytes, POOL)).toBe(c.code);
      expect(() => decodeEntry(core, c.bytes, POOL)).toThrow(
        expect.objectContaining({ code: c.code }),
      );
    }
  });

  it('any pool is accepted when none is asked for', () => {
    const { core, entries } = sampleLog(77n);
    expect(checkEntry(core, entries[0], POOL)).toBe(38310);
    expect(decodeEntry(core, entries[0]).poolId).toBe(77n);
  });

  it('bytes after the entry are ignored', () => {
    const { core, log, entries } = sampleLog();
    expect(decodeEntry(core, log, POOL).length).toBe(entries[0].length);
  });
});

describe('the encoder refuses what the decoder would', () => {
  const checkpointBody = (snapshotSequence: bigint, snapshotName: string): EntryBody => ({
    type: 'checkpoint',
    snapshotSequence,
    sp: 0n,
    spvv: 0,
    recordCount: 0n,
    snapshotName,
    nodes: [],
  });
  const cases: [string, (core: Core) => EntryBody, number, bigint?][] = [
    [
      '17 participants',
      (core) =>
        samplePrepare(core, { participants: Array.from({ length: 17 }, (_, i) => BigInt(i + 1)) }),
      38311,
    ],
    ['a repeated participant', (core) => samplePrepare(core, { participants: [5n, 5n] }), 38311],
    ['a zero participant', (core) => samplePrepare(core, { participants: [0n] }), 38311],
    [
      'a repeated node id',
      (core) =>
        samplePrepare(core, {
          nodes: [
            { id: 1n, address: 'a:1' },
            { id: 1n, address: 'b:1' },
          ],
        }),
      38311,
    ],
    [
      'an address of 65 bytes',
      (core) => samplePrepare(core, { nodes: [{ id: 1n, address: 'a'.repeat(65) }] }),
      38311,
    ],
    [
      'an address with a space',
      (core) => samplePrepare(core, { nodes: [{ id: 1n, address: 'a b:1' }] }),
      38311,
    ],
    ['an empty address', () => ({ type: 'node-added', node: { id: 1n, address: '' } }), 38311],
    ['event 0', (core) => samplePrepare(core, { event: 0 }), 38311],
    ['event 33', (core) => samplePrepare(core, { event: 33 }), 38311],
    ['a source user with a slash', (core) => samplePrepare(core, { sourceUser: 'a/b' }), 38311],
    [
      'a target name of 33 bytes',
      (core) => samplePrepare(core, { targetName: 'x'.repeat(33) }),
      38311,
    ],
    ['an empty batch', (core) => samplePrepare(core, { batch: new Uint8Array(0) }), 38311],
    ['a zero coordinator', (core) => samplePrepare(core, { coordinator: 0n }), 38311],
    ['node-down of node 0', () => ({ type: 'node-down', nodeId: 0n }), 38311],
    ['an epoch not above the entry epoch', () => ({ type: 'epoch-raised', epoch: 1n }), 38311],
    ['a checkpoint of the wrong sequence', () => checkpointBody(1n, 'a'), 38311],
    ['a snapshot name with a slash', () => checkpointBody(4n, 'a/b'), 38311],
    ['a snapshot name starting with a dot', () => checkpointBody(4n, '.tmp-a'), 38311],
    ['a PREPARE without transaction id', (core) => samplePrepare(core), 38311, 0n],
  ];
  it.each(cases)('%s', (_name, body, code, transactionId) => {
    const core = keyedCore();
    const call = () =>
      encodeEntry(
        core,
        { ...header, transactionId: transactionId ?? header.transactionId },
        body(core),
        new Uint8Array(16).fill(1),
      );
    expect(call).toThrow(HsmError);
    expect(call).toThrow(expect.objectContaining({ code }));
  });

  it('a batch over BATCH_SIZE_MAX is refused before the core sees it', () => {
    const core = keyedCore();
    const huge = new Uint8Array(LOG_ENTRY_SIZE_MAX);
    expect(() =>
      encodeEntry(core, header, samplePrepare(core, { batch: huge }), ZERO_CHECKSUM),
    ).toThrow(expect.objectContaining({ code: 38311 }));
  });

  it('a large valid PREPARE (16 records of 8 KiB) round-trips', () => {
    const core = keyedCore();
    const batch = encodeBatch([
      {
        event: 'NULL',
        operations: Array.from({ length: 16 }, () => ({
          op: 'insert' as const,
          record: new Uint8Array(8192),
        })),
      },
    ]);
    const { bytes } = encodeEntry(
      core,
      header,
      samplePrepare(core, { batch }),
      new Uint8Array(16).fill(3),
    );
    expect(
      Buffer.from((decodeEntry(core, bytes, POOL).body as { batch: Uint8Array }).batch).equals(
        batch,
      ),
    ).toBe(true);
  });

  it('sequence 1 with a non-zero parent is a broken chain', () => {
    const core = keyedCore();
    expect(() =>
      encodeEntry(
        core,
        { ...header, sequence: 1n },
        { type: 'abort', reason: 1 },
        new Uint8Array(16).fill(1),
      ),
    ).toThrow(expect.objectContaining({ code: 38306 }));
  });
});

describe('round trip', () => {
  it('decode(encode(entries)) gives the entries back, scans clean, and both builds write the same bytes', () => {
    const release = keyedCore('release');
    const scalar = keyedCore('scalar');
    fc.assert(
      fc.property(bodiesArbitrary, (items) => {
        const log = encodeBodies(release, items);
        expect(toHex(encodeBodies(scalar, items).log)).toBe(toHex(log.log));
        log.entries.forEach((bytes, i) => {
          const decoded = decodeEntry(release, bytes, POOL);
          expect(shown(decoded.body)).toEqual(shown(log.bodies[i]));
          expect(decoded.sequence).toBe(BigInt(i + 1));
        });
        const result = scanLog(release, log.log, { poolId: POOL });
        expect([result.tail, result.entries, result.validLength]).toEqual([
          'clean',
          items.length,
          log.log.length,
        ]);
      }),
      { numRuns: 150 },
    );
  });

  it('a long chain reports its entries through many result batches', () => {
    const core = keyedCore();
    const encoder = new LogEncoder(core, POOL);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 10_000; i++)
      parts.push(encoder.encode({ type: 'abort', reason: i }, { transactionId: BigInt(i + 1) }));
    const log = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (log.set(p, at), at + p.length), 0);
    let seen = 0n;
    const result = scanLog(core, log, { poolId: POOL }, (entry) => {
      seen++;
      expect(entry.sequence).toBe(seen);
    });
    expect([result.tail, result.entries, Number(seen)]).toEqual(['clean', 10_000, 10_000]);
    expect(result.last.sequence).toBe(10_000n);
  });
});
