// The chaos campaign's load (docs/CHAOS.md): concurrent SDK writers creating keys with unique
// names, bursts of concurrent writes when the nemesis asks for one, and a reader signing with
// one fixed key. Every write call is recorded (check.ts judges the records at the end); the
// reads are only counted.

import { randomBytes } from 'node:crypto';
import type { HsmClient, KeyOptions } from '../../host/client/package.node.ts';
import { CODE, HsmError } from '../../host/core/codes.ts';
import type { WriteRecord } from './check.ts';

/** Writes one writer fires at once in a burst. */
export const BURST_WRITES = 8;
/** A writer's pause after a failed call. */
export const WRITER_BACKOFF_MS = 50;
/** The key the reader signs with (created before the first cycle, a fixture for the judge). */
export const READER_KEY = 'chaos-reader';

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

export function codeOf(error: unknown): number {
  return error instanceof HsmError ? error.code : CODE.INTERNAL_ERROR;
}

/** The request id an error carries once the outcomes change lands (`error.requestId`). */
function requestIdOf(error: unknown): string | undefined {
  const id = (error as { requestId?: unknown } | undefined)?.requestId;
  return typeof id === 'string' ? id : undefined;
}

/** What the reader saw: signatures made, calls failed, failures by code. */
export interface ReadCounts {
  ok: number;
  failed: number;
  codes: Record<string, number>;
}

export interface WorkloadOptions {
  /** One client per writer. */
  readonly writers: readonly HsmClient[];
  readonly reader: HsmClient;
  /** Every write call is appended here, as it is made. */
  readonly writes: WriteRecord[];
  readonly reads: ReadCounts;
  /** ms since the campaign started (the records' times). */
  readonly elapsed: () => number;
}

/** The writers and the reader: they run from start() until stop(). */
export class Workload {
  /** The cycle the next write belongs to (its record and its name's prefix). */
  cycle = 0;
  private running = true;
  /** Bumped by requestBurst(); a writer that sees it change fires one burst. */
  private burst = 0;
  /** Per name prefix, the next number (names are unique within the campaign). */
  private readonly counter = new Map<string, number>();

  constructor(private readonly options: WorkloadOptions) {}

  /** Starts every writer and the reader; resolves once stop() was called and all returned. */
  start(): Promise<void[]> {
    this.running = true;
    const writers = Array.from({ length: this.options.writers.length }, (_, w) => this.writer(w));
    return Promise.all([...writers, this.readLoop()]);
  }

  /** The loops finish their call in flight and return. */
  stop(): void {
    this.running = false;
  }

  /** Every writer fires BURST_WRITES writes at once, next time round its loop. */
  requestBurst(): void {
    this.burst++;
  }

  /** One recorded write: a new AES key named `${prefix}-${n}`. */
  async write(c: HsmClient, prefix: string): Promise<WriteRecord> {
    const n = this.counter.get(prefix) ?? 0;
    this.counter.set(prefix, n + 1);
    // A caller-chosen request id, so that client.outcome can resolve any write at the end.
    const requestId = randomBytes(16).toString('hex');
    const record: WriteRecord = {
      name: `${prefix}-${n}`,
      cycle: this.cycle,
      invokedMs: this.options.elapsed(),
      requestId,
    };
    this.options.writes.push(record);
    const keyOptions = { exportable: false, requestId } as KeyOptions;
    try {
      await c.generateKey(record.name, 'aes-256', keyOptions);
      record.code = 0;
    } catch (error) {
      record.code = codeOf(error);
      record.requestId = requestIdOf(error) ?? requestId;
    }
    record.answeredMs = this.options.elapsed();
    return record;
  }

  private async writer(w: number): Promise<void> {
    const client = this.options.writers[w];
    let seenBurst = this.burst; // only a burst asked for during this cycle
    while (this.running) {
      if (this.burst !== seenBurst) {
        seenBurst = this.burst;
        await Promise.all(
          Array.from({ length: BURST_WRITES }, () => this.write(client, `c${this.cycle}-w${w}b`)),
        );
        await sleep(5);
      } else {
        const record = await this.write(client, `c${this.cycle}-w${w}`);
        // A refusal or a dead pool: back off a little rather than spin (bounded load).
        await sleep(record.code === 0 ? 5 : WRITER_BACKOFF_MS);
      }
    }
  }

  private async readLoop(): Promise<void> {
    const { reader, reads } = this.options;
    const message = new TextEncoder().encode('chaos');
    while (this.running) {
      try {
        await reader.sign(READER_KEY, message);
        reads.ok++;
      } catch (error) {
        reads.failed++;
        const code = codeOf(error);
        reads.codes[code] = (reads.codes[code] ?? 0) + 1;
      }
      await sleep(20);
    }
  }
}
