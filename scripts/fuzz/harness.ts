// What every fuzz target's replay shares with scripts/fuzz/harness.c: the key and pool the
// inputs run under, the input zone at the end of linear memory (so a read past an input's
// slack traps, as under libFuzzer), and the recorder of calls and broken invariants.

import { describe as describeCode } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import * as L from '../../host/core/layout.ts';

/** The Sync-Point key every target runs under (harness.c: sp_key). */
export const FUZZ_SP_KEY: Uint8Array = Uint8Array.from({ length: L.SP_KEY_SIZE }, (_, i) => i);

/** Bytes io_pointer() guarantees after the IO buffer (harness.c: SLACK). */
export const SLACK = 64;

/** The pool every log seed belongs to (harness.c: FUZZ_POOL_ID). */
export const FUZZ_POOL_ID = 0x1122334455667788n;

/** What one entry-point call returned. */
export interface Call {
  readonly entryPoint: string;
  readonly code: number;
}

export interface Replay {
  readonly calls: Call[];
  /** Broken invariants, in words; empty when all held. */
  readonly problems: string[];
}

/** Pages of the input zone: the largest input (the IO buffer) plus slack (harness.c: ZONE_PAGES). */
const ZONE_PAGES = Math.ceil((L.IO_BUFFER_SIZE + SLACK) / 65536);
const zoneEnds = new WeakMap<Core, number>();

/**
 * A copy in a fresh ArrayBuffer at offset 0. (Not `.slice()`: an input may be a Node Buffer,
 * whose slice is a view, and writing to it would change the caller's bytes.)
 */
export function copyOf(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/**
 * Copies `bytes` to the very end of linear memory, followed by `slack` bytes of `fill` and
 * nothing else, so a read past input + slack traps (harness.c: place). The zone is memory
 * this grows and the core's allocator never hands out; it is grown again whenever the core
 * grew memory past it. Returns the address.
 */
export function place(core: Core, bytes: Uint8Array, fill = 0, slack = SLACK): number {
  const memory = core.exports.memory;
  if (zoneEnds.get(core) !== memory.buffer.byteLength) {
    memory.grow(ZONE_PAGES);
    zoneEnds.set(core, memory.buffer.byteLength);
  }
  const end = zoneEnds.get(core)!;
  const address = end - slack - bytes.length;
  const view = core.memory();
  view.set(bytes, address);
  view.fill(fill, address + bytes.length, end);
  return address;
}

export function refillSlack(core: Core, address: number, length: number, fill: number): void {
  core.memory().fill(fill, address + length, address + length + SLACK);
}

export class Recorder {
  readonly calls: Call[] = [];
  readonly problems: string[] = [];
  record(entryPoint: string, code: number): number {
    this.calls.push({ entryPoint, code });
    if (describeCode(code).name === 'UNKNOWN')
      this.problems.push(`${entryPoint} returned undocumented code ${code}`);
    return code;
  }
  expect(condition: boolean, problem: string): void {
    if (!condition) this.problems.push(problem);
  }
}
