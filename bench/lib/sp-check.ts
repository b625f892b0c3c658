// Prints a digest of everything the Sync-Point machinery outputs for a fixed, seeded set of
// inputs, for each core build given (default: build/core.wasm and build/core-scalar.wasm).
// A performance change to assembly/nh.ts, syncpoint.ts or the recompute loop must leave
// every line unchanged, and the builds must agree. Exit code 1 if they disagree.
//   npx tsx bench/lib/sp-check.ts [file.wasm ...]

import { createHash } from 'node:crypto';
import { encodeBatch, type Write } from '../../host/core/batch.ts';
import type { Core } from '../../host/core/core.ts';
import { R_ACC_HI, R_ACC_LO } from '../../host/core/layout.ts';
import { coreWasmPath } from '../../host/core/load.node.ts';
import { keyedCore } from './load.ts';
import { RecordFactory, SHAPE_300, SHAPE_64, type RecordShape } from './records.ts';
import { randomBytes, seededRandom } from './stats.ts';
import { toHex64 } from '../../host/wire/bytes.ts';

const SEED = 0x5eed5;

function recordValuesDigest(core: Core): string {
  const next = seededRandom(SEED);
  const digest = createHash('sha256');
  const lengths = [
    ...Array.from({ length: 701 }, (_, i) => i),
    1023,
    1024,
    1025,
    4095,
    4096,
    4097,
    8191,
    8192,
  ];
  for (const length of lengths) {
    const value = core.recordValue(randomBytes(length, next));
    digest.update(
      `${length}:${toHex64(value.nh0)}${toHex64(value.nh1)}${toHex64(value.lo)}${toHex64(value.hi)};`,
    );
  }
  return digest.digest('hex').slice(0, 32);
}

function checksumDigest(core: Core): string {
  const next = seededRandom(SEED + 1);
  const digest = createHash('sha256');
  for (const length of [0, 1, 15, 16, 17, 4095, 4096, 4097, 8192, 100_000]) {
    const [lo, hi] = core.checksum(randomBytes(length, next));
    digest.update(`${length}:${toHex64(lo)}${toHex64(hi)};`);
  }
  return digest.digest('hex').slice(0, 32);
}

function sipHashDigest(core: Core): string {
  const next = seededRandom(SEED + 3);
  const digest = createHash('sha256');
  const key = randomBytes(16, next);
  for (let length = 0; length < 80; length += 7) {
    const message = randomBytes(length, next);
    for (const [c, d] of [
      [1, 3],
      [2, 4],
    ]) {
      for (const wide of [false, true]) {
        const [first, second] = core.sipHash(key, message, c, d, wide);
        digest.update(`${length}/${c}/${d}/${wide}:${toHex64(first)}${toHex64(second)};`);
      }
    }
  }
  return digest.digest('hex').slice(0, 32);
}

function shapeOfSize(size: number): RecordShape {
  return { ...(size >= 200 ? SHAPE_300 : SHAPE_64), size };
}

/**
 * A store of `count` records of many sizes; SP after inserts, after replaces and deletes;
 * recompute agrees. Sizes of store exercise each path of sp_recompute (slot order below 64
 * records, address order with one and with two radix passes).
 */
function storeStates(core: Core, count: number, label: string): string[] {
  const next = seededRandom(SEED + 2 + count);
  const sizes = [
    40, 41, 47, 48, 49, 63, 64, 65, 80, 100, 127, 128, 129, 200, 255, 256, 257, 300, 301, 333, 400,
    513,
  ];
  const factories = sizes.map((size) => new RecordFactory(core, shapeOfSize(size)));
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) records.push(factories[i % factories.length].make(i, next));
  const lines: string[] = [];
  const applyAll = (writes: Write[]): void => {
    for (let at = 0; at < writes.length; at += 256) {
      const result = core.apply(encodeBatch(writes.slice(at, at + 256)));
      if (result.writeResults.some((code) => code !== 0))
        throw new Error(`a write failed: ${result.writeResults.join(',')}`);
    }
  };
  const state = (stage: string): void => {
    const incremental = core.syncPoint();
    const { syncPoint, consistent } = core.recompute();
    if (!consistent || syncPoint.hex !== incremental.hex)
      throw new Error(`${label} ${stage}: recompute disagrees`);
    lines.push(
      `${label} ${stage}: SP ${syncPoint.hex} SPVV ${syncPoint.spvvHex} count ${syncPoint.count}`,
    );
  };
  applyAll(
    records.map((record) => ({ event: 'CREATE_OBJ', operations: [{ op: 'insert', record }] })),
  );
  state('inserted');
  const replaced: Write[] = [];
  for (let i = 0; i < count; i += 3) {
    replaced.push({
      event: 'UPDATE_OBJ',
      operations: [{ op: 'replace', record: factories[(i + 5) % factories.length].make(i, next) }],
    });
  }
  applyAll(replaced);
  state('replaced');
  const deleted: Write[] = [];
  for (let i = 0; i < count; i += 7) {
    deleted.push({
      event: 'DELETE_OBJ',
      operations: [{ op: 'delete', kind: 'object', name: `obj-${String(i).padStart(7, '0')}` }],
    });
  }
  applyAll(deleted);
  state('deleted');
  // The packed-frames path over the same records.
  const packed = core.packFrames(records);
  core.sumPackedFrames(packed);
  const view = core.dataView();
  const lo = view.getBigUint64(core.result + R_ACC_LO, true);
  const hi = view.getBigUint64(core.result + R_ACC_HI, true);
  const sp = core.sumPackedFrames(packed);
  lines.push(
    `${label} frames: ${packed} acc ${toHex64(hi)}${toHex64(lo)} SP ${sp.hex} SPVV ${sp.spvvHex}`,
  );
  return lines;
}

export function spCheckLines(wasmPath: string): string[] {
  const core = keyedCore(wasmPath);
  return [
    `record values: ${recordValuesDigest(core)}`,
    `checksums: ${checksumDigest(core)}`,
    `siphash: ${sipHashDigest(core)}`,
    ...storeStates(core, 3000, 'store'),
    ...storeStates(keyedCore(wasmPath), 40, 'small store'),
    ...storeStates(keyedCore(wasmPath), 30000, 'large store'),
  ];
}

function main(): void {
  const paths = process.argv.slice(2);
  if (paths.length === 0) paths.push(coreWasmPath('release'), coreWasmPath('scalar'));
  const outputs = paths.map((path) => spCheckLines(path));
  paths.forEach((path, i) => {
    console.log(path);
    for (const line of outputs[i]) console.log(`  ${line}`);
  });
  const same = outputs.every((lines) => lines.join('\n') === outputs[0].join('\n'));
  console.log(same ? 'all builds agree' : 'BUILDS DISAGREE');
  if (!same) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) main();
