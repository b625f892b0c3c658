// What the HSM service runs on: one node's key store (reads, never replicated), the pool master
// key, the replicated write path, randomness and a clock. The appliance runtime provides it over
// the replication protocol; local-backend.ts provides it over Cores directly (tests, the page).

import type { Core } from '../core/core.ts';
import type { ClientReply, WriteRequest } from '../protocol/types.ts';

export interface ServiceBackend {
  /** The node's key store: read records with get/list (reads never replicate). */
  readonly core: Core;
  /** The pool master key (SVMK): wrapping keys are derived from it. */
  readonly svmk: Uint8Array;
  /**
   * A replicated write. Resolves with its code: 0 = committed everywhere; 36000 = busy, retry;
   * otherwise a documented code. Writes with the same requestId are deduplicated pool-wide:
   * a retry gets the original outcome.
   */
  submit(write: WriteRequest): Promise<ClientReply>;
  /**
   * What this node knows of a write by its request id: its remembered outcome (code and txid),
   * 38720 queued or in a transaction here, 38721 nothing (docs/CLIENT.md "Outcomes").
   */
  outcome(requestId: string): Promise<ClientReply>;
  /** Cryptographically secure random bytes (injected so tests can replay them). */
  randomBytes(length: number): Uint8Array;
  /** Milliseconds, for session timeouts only. */
  now(): number;
  /**
   * Whether this node may serve clients now: 0, or the code to refuse every client request but
   * ping and logout with — 38503 NODE_FENCED_NO_READS (declared down) or 38504 NODE_DIVERGED:
   * its store may hold keys removed and passwords changed since. Console sessions are exempt.
   * Absent: always 0.
   */
  serving?(): number;
}
