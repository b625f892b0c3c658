// Backends without the replication protocol, for tests and the in-page pool: writes apply
// straight to Cores. `LocalReplication` holds one or more Cores that every write reaches
// together — a pool whose commits are instantaneous — and the pool-wide memory of request ids,
// so that a retried write gets its original outcome exactly as the real pool answers it.

import { encodeBatch } from '../core/batch.ts';
import { CODE, HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import type { ClientReply, WriteRequest } from '../protocol/types.ts';
import type { ServiceBackend } from './backend.ts';
import { fromHex } from '../wire/bytes.ts';
import { secureRandomBytes } from '../wire/random.ts';
import { isRequestId, txIdOf } from '../wire/ids.ts';
import { OldestFirst } from '../wire/oldest-first.ts';

/** Remembered request ids (the replica keeps as many: docs/PROTOCOL.md). */
export const LOCAL_REQUEST_OUTCOMES_MAX = 65_536;
export interface LocalOptions {
  readonly randomBytes?: (length: number) => Uint8Array;
  readonly now?: () => number;
}

/** Cores that apply every write together, and the outcomes of the request ids seen. */
export class LocalReplication {
  private readonly outcomes = new Map<string, ClientReply>();
  private readonly outcomesOldest = new OldestFirst(this.outcomes);
  private readonly randomBytes: (length: number) => Uint8Array;

  constructor(
    readonly cores: readonly Core[],
    options: LocalOptions = {},
  ) {
    if (cores.length === 0) throw new RangeError('cores: at least one');
    this.randomBytes = options.randomBytes ?? secureRandomBytes;
  }

  submit(write: WriteRequest): ClientReply {
    if (!isRequestId(write.requestId))
      return { requestId: write.requestId, code: CODE.INVALID_OPERATION };
    const known = this.outcomes.get(write.requestId);
    if (known) return known;
    const batch = encodeBatch([
      { event: write.event, operations: write.operations, requestId: fromHex(write.requestId) },
    ]);
    let result: number;
    try {
      // Every core holds the same state, so a dry run on the first tells what all will do.
      result = this.cores[0].apply(batch, true).writeResults[0];
      if (result === 0) for (const core of this.cores) core.apply(batch);
    } catch (error) {
      result = error instanceof HsmError ? error.code : CODE.CANNOT_VALIDATE_EVENT;
    }
    const reply: ClientReply = {
      requestId: write.requestId,
      code: result,
      txid: txIdOf(this.randomBytes(8)),
    };
    this.remember(reply);
    return reply;
  }

  /** The remembered outcome, or 38721: this replication commits at once, nothing is pending. */
  outcome(requestId: string): ClientReply {
    return this.outcomes.get(requestId) ?? { requestId, code: CODE.REQUEST_ID_UNKNOWN };
  }

  private remember(reply: ClientReply): void {
    this.outcomes.set(reply.requestId, reply);
    this.outcomesOldest.trimTo(LOCAL_REQUEST_OUTCOMES_MAX);
  }
}

/** One node: its own Core, writes through the shared replication. */
export class LocalBackend implements ServiceBackend {
  readonly randomBytes: (length: number) => Uint8Array;
  readonly now: () => number;

  constructor(
    readonly core: Core,
    readonly svmk: Uint8Array,
    private readonly replication: LocalReplication = new LocalReplication([core]),
    options: LocalOptions = {},
  ) {
    if (!replication.cores.includes(core))
      throw new RangeError("core: must be one of the replication's cores");
    this.randomBytes = options.randomBytes ?? secureRandomBytes;
    this.now = options.now ?? (() => Date.now());
  }

  async submit(write: WriteRequest): Promise<ClientReply> {
    return this.replication.submit(write);
  }

  async outcome(requestId: string): Promise<ClientReply> {
    return this.replication.outcome(requestId);
  }
}

/** A pool of nodes, one per Core (all keyed with the same SVMK), every write reaching every node. */
export function createLocalPool(
  cores: readonly Core[],
  svmk: Uint8Array,
  options: LocalOptions = {},
): LocalBackend[] {
  const replication = new LocalReplication(cores, options);
  return cores.map((core) => new LocalBackend(core, svmk, replication, options));
}
