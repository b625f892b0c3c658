// The figures bench:web measures, as browser-safe functions: the same code runs in Node and in
// the page (build/web/bench.html), one after the other in one run (bench/web.ts).
//   - Sync-Point from scratch over a store of N object records (Core.recompute), best of R.
//   - Commits/s of a 3-appliance in-process pool (the real Appliance, memory storage, the real
//     secure channel over the memory transport) with C concurrent writers.

import { InProcessPool } from '../host/testing/in-process-pool.ts';
import { encodeBatch, type Write } from '../host/core/batch.ts';
import type { Core } from '../host/core/core.ts';
import { CODE } from '../host/core/codes.ts';

export interface SpFigure {
  readonly records: number;
  readonly rounds: number;
  /** Best round. */
  readonly ms: number;
  readonly nsPerRecord: number;
  readonly sp: string;
}

export interface CommitFigure {
  readonly nodes: number;
  readonly writers: number;
  readonly commits: number;
  readonly ms: number;
  readonly perSecond: number;
}

/** Answers after which the same write is sent again (docs/CLIENT.md "Outcomes"). */
const RETRIED: ReadonlySet<number> = new Set([CODE.REPLICATION_BUSY, CODE.WRITE_OUTCOME_PENDING]);

/** A small deterministic generator (the records' wrapped bytes). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

function objectRecord(core: Core, name: string, next: () => number): Uint8Array {
  const wrapped = new Uint8Array(16);
  for (let i = 0; i < wrapped.length; i++) wrapped[i] = next() & 0xff;
  return core.encode({
    kind: 'object',
    name,
    keyType: 'aes-256',
    exportable: false,
    temporary: false,
    owner: 'owner-01',
    acl: [],
    wrapped,
  });
}

/** Loads `records` object records through batches of 256 inserts, then times the SP from scratch. */
export function spFigure(newCore: () => Core, records: number, rounds: number): SpFigure {
  const core = newCore();
  const next = lcg(20261204);
  for (let first = 0; first < records; first += 256) {
    const writes: Write[] = [];
    for (let i = first; i < Math.min(records, first + 256); i++)
      writes.push({
        event: 'CREATE_OBJ',
        operations: [{ op: 'insert', record: objectRecord(core, `o-${i}`, next) }],
      });
    if (core.apply(encodeBatch(writes)).writeResults.some((code) => code !== 0))
      throw new Error('an insert failed');
  }
  let best = Infinity;
  let sp = '';
  for (let round = 0; round < rounds; round++) {
    const began = performance.now();
    const { syncPoint, consistent } = core.recompute();
    best = Math.min(best, performance.now() - began);
    if (!consistent) throw new Error('the recomputed SP differs from the incremental one');
    sp = syncPoint.hex;
  }
  return { records, rounds, ms: best, nsPerRecord: (best * 1e6) / records, sp };
}

/** `commits` replicated writes through a 3-node in-process pool, `writers` at a time. */
export async function commitFigure(
  newCore: () => Core,
  svmk: Uint8Array,
  commits: number,
  writers: number,
): Promise<CommitFigure> {
  const pool = await InProcessPool.start({ nodes: 3, svmk, newCore, seed: 7, groupCommit: true });
  pool.startClock();
  try {
    const codec = newCore();
    const next = lcg(7);
    let issued = 0;
    const began = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        while (issued < commits) {
          const n = issued++;
          const input = {
            requestId: n.toString(16).padStart(32, '0'),
            event: 'CREATE_OBJ' as const,
            operations: [{ op: 'insert' as const, record: objectRecord(codec, `c-${n}`, next) }],
            sourceUser: 'bench',
            target: `c-${n}`,
          };
          // Busy (another write holds the pool) or outcome pending (a loaded machine let the
          // write time out while queued): the same request again, as the SDK does.
          // After a pending answer, 5022 says the first attempt committed.
          let pending = false;
          for (let code: number = CODE.REPLICATION_BUSY; code !== 0;) {
            code = (await pool.appliances[writer % 3].write(input)).code;
            if (pending && code === CODE.OBJ_ALREADY_EXISTS) break;
            pending ||= code === CODE.WRITE_OUTCOME_PENDING;
            if (code !== 0 && !RETRIED.has(code)) throw new Error(`write ${n}: code ${code}`);
          }
        }
      }),
    );
    const ms = performance.now() - began;
    return { nodes: 3, writers, commits, ms, perSecond: (commits * 1000) / ms };
  } finally {
    await pool.close();
  }
}
