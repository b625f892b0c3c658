// Request outcomes kept durably beside each checkpoint (host/log/request-outcomes.ts):
// the format (golden bytes, strict decoding), and the two ways a node used to forget them — a
// joined node's restart, and compaction of the log that held a write's commit.

import { describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Appliance } from '../../host/appliance/appliance.ts';
import type { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { joinInProcess } from '../../host/testing/live-sync-pool.ts';
import {
  REQUEST_OUTCOMES_KEY,
  decodeRequestOutcomes,
  decodeRequestOutcomesBlob,
  encodeRequestOutcomes,
} from '../../host/log/request-outcomes.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { nodeSha256 } from '../../host/wire/crypto-engine.node.ts';
import { codeOf, thrownCode } from '../fixtures.ts';
import { drive, objectWrites, reopenJoined, startPool } from '../pool-writes.ts';
import { toTxId, type TxId } from '../../host/wire/ids.ts';

const write = objectWrites(57);

const SAMPLE: [string, { code: number; txid: TxId }][] = [
  ['00112233445566778899aabbccddeeff', { code: 0, txid: toTxId('0123456789abcdef') }],
  ['ffeeddccbbaa99887766554433221100', { code: 5022, txid: toTxId('fedcba9876543210') }],
];

describe('request outcomes blob', () => {
  it("node:crypto's SHA-256 (nodes in Node) writes and reads the same bytes as noble's", () => {
    const checkpoint = { sequence: 7n, sp: 0x42n, spvv: 3 };
    const outcomes: [string, { code: number; txid: TxId }][] = Array.from(
      { length: 3000 },
      (_, i) => [
        i.toString(16).padStart(32, '0'),
        { code: i % 7, txid: toTxId('0123456789abcdef') },
      ],
    );
    const bytes = encodeRequestOutcomes(outcomes, checkpoint);
    expect(encodeRequestOutcomes(outcomes, checkpoint, nodeSha256)).toEqual(bytes);
    // A replica's map is encoded without spreading it into pairs: the same bytes.
    expect(encodeRequestOutcomes(new Map(outcomes), checkpoint)).toEqual(bytes);
    expect(decodeRequestOutcomesBlob(bytes, nodeSha256)).toEqual({ outcomes, checkpoint });
    const damaged = bytes.slice();
    damaged[40] ^= 1;
    expect(thrownCode(() => decodeRequestOutcomesBlob(damaged, nodeSha256))).toBe(
      thrownCode(() => decodeRequestOutcomesBlob(damaged)),
    );
    expect(() => decodeRequestOutcomesBlob(damaged, nodeSha256)).toThrow(/checksum mismatch/);
  });

  it('version 2 has golden bytes: the checkpoint it goes with, then the outcomes', () => {
    const checkpoint = { sequence: 0x1234n, sp: 0x0123456789abcdefn, spvv: 0xbeef };
    const bytes = encodeRequestOutcomes(SAMPLE, checkpoint);
    expect(bytesToHex(bytes.subarray(0, 32 + 2 * 28))).toBe(
      '4853524f' +
        '02000000' +
        '02000000' +
        '3412000000000000' +
        'efcdab8967452301' +
        'efbe' +
        '0000' +
        '00112233445566778899aabbccddeeff' +
        '0123456789abcdef' +
        '00000000' +
        'ffeeddccbbaa99887766554433221100' +
        'fedcba9876543210' +
        '9e130000',
    );
    expect(bytes.length).toBe(32 + 2 * 28 + 32);
    expect(decodeRequestOutcomesBlob(bytes)).toEqual({ outcomes: SAMPLE, checkpoint });
    const flipped = bytes.slice();
    flipped[31] = 1; // a reserved byte
    const body = flipped.subarray(0, flipped.length - 32);
    flipped.set(sha256(body), body.length);
    expect(() => decodeRequestOutcomesBlob(flipped)).toThrow(/reserved bytes/);
  });

  it('version 1 (no checkpoint) has golden bytes and is still read', () => {
    const bytes = encodeRequestOutcomes(SAMPLE);
    expect(bytesToHex(bytes.subarray(0, 12 + 2 * 28))).toBe(
      '485352' +
        '4f' +
        '01000000' +
        '02000000' +
        '00112233445566778899aabbccddeeff' +
        '0123456789abcdef' +
        '00000000' +
        'ffeeddccbbaa99887766554433221100' +
        'fedcba9876543210' +
        '9e130000',
    );
    expect(bytes.length).toBe(12 + 2 * 28 + 32);
    expect(decodeRequestOutcomes(bytes)).toEqual(SAMPLE);
    expect(decodeRequestOutcomesBlob(bytes).checkpoint).toBeUndefined();
    expect(decodeRequestOutcomes(encodeRequestOutcomes([]))).toEqual([]);
  });

  it.each([
    ['version 1', undefined],
    ['version 2', { sequence: 9n, sp: 77n, spvv: 5 }],
  ])('%s: refuses every truncation, extension and bit flip whole (37027)', (_, checkpoint) => {
    const bytes = encodeRequestOutcomes(SAMPLE, checkpoint);
    const code = (candidate: Uint8Array) => thrownCode(() => decodeRequestOutcomes(candidate));
    for (let length = 0; length < bytes.length; length++)
      expect(code(bytes.subarray(0, length))).toBe(37027);
    expect(code(Uint8Array.of(...bytes, 0))).toBe(37027);
    for (let bit = 0; bit < bytes.length * 8; bit += 7) {
      const flipped = bytes.slice();
      flipped[bit >> 3] ^= 1 << (bit & 7);
      expect(code(flipped), `bit ${bit}`).toBe(37027);
    }
  });
});

/** A pool of 2 from `seed` whose first write, `name`, committed; `retriedOn` checks that a retry
 * of it on an appliance gets its original answer. */
async function poolAfterWrite(seed: number, name: string, checkpointBytes?: number) {
  const pool = await startPool({ nodes: 2, seed, checkpointBytes });
  const request = write(name);
  const first = await drive(pool, pool.appliances[0].write(request));
  expect(first.code).toBe(0);
  const retriedOn = async (appliance: Appliance) =>
    expect(await drive(pool, appliance.write(request))).toMatchObject({
      code: 0,
      txid: first.txid,
    });
  return { pool, retriedOn };
}

/** Commits 40 more writes, on both nodes in turn, calling `after` after each. */
async function writeForty(pool: InProcessPool, after = async () => {}): Promise<void> {
  for (let i = 0; i < 40; i++) {
    expect((await drive(pool, pool.appliances[i % 2].write(write(`k${i}`)))).code).toBe(0);
    await after();
  }
}

describe('request outcomes survive', () => {
  it("a joined node's restart: a retry there of a write committed before the join gets its original answer", async () => {
    const { pool, retriedOn } = await poolAfterWrite(21, 'before-join');
    const join = joinInProcess(pool, { seed: 8 });
    const { appliance: joiner } = await drive(pool, join.done);
    const count = joiner.info().syncPoint.count;
    // The joined node restarts, as the CLI restarts it: founders only, from its storage.
    await joiner.close();
    const restarted = await reopenJoined(pool, join, {
      poolId: joiner.poolId,
      founders: pool.founders,
      seed: 4,
    });
    pool.appliances[pool.appliances.length - 1] = restarted;
    await retriedOn(restarted);
    expect(restarted.info().syncPoint.count).toBe(count);
    await pool.close();
  }, 60_000);

  it('compaction: a retry of a write whose commit left the log still gets its original answer after a restart', async () => {
    const { pool, retriedOn } = await poolAfterWrite(22, 'early', 2048);
    await writeForty(pool);
    expect(
      pool.appliances[1].events.filter((e) => e.event === 'checkpoint').length,
    ).toBeGreaterThan(2);
    await pool.appliances[1].close();
    await retriedOn(await pool.open(1));
    await pool.close();
  }, 60_000);
});

describe('the request-outcomes blob goes with the checkpoints', () => {
  it('a restart refuses (38316) a missing blob, or an older one, changing nothing; the right one opens and answers a retry', async () => {
    const { pool, retriedOn } = await poolAfterWrite(24, 'early', 2048);
    const storage = pool.storages[1];
    const blobs: Uint8Array[] = [];
    await writeForty(pool, async () => {
      const blob = await storage.readMeta(REQUEST_OUTCOMES_KEY);
      if (
        blob &&
        !blobs.some((seen) => seen.length === blob.length && bytesToHex(seen) === bytesToHex(blob))
      )
        blobs.push(blob);
    });
    expect(blobs.length).toBeGreaterThan(2);
    await pool.appliances[1].close();
    const meta = (storage as unknown as { meta: Map<string, Uint8Array> }).meta;
    const current = meta.get(REQUEST_OUTCOMES_KEY)!;
    const log = (await storage.readLog()).slice();
    const refusal = () => codeOf(pool.open(1));

    meta.delete(REQUEST_OUTCOMES_KEY); // deleted: writes retried here would run twice
    expect(await refusal()).toBe(38316);
    meta.set(REQUEST_OUTCOMES_KEY, blobs[0]); // an older copy put back
    expect(await refusal()).toBe(38316);
    expect(await storage.readLog()).toEqual(log);
    expect(meta.get(REQUEST_OUTCOMES_KEY)).toBe(blobs[0]);

    meta.set(REQUEST_OUTCOMES_KEY, current);
    await retriedOn(await pool.open(1));
    await pool.close();
  }, 60_000);
});
