// The SDK's options, limits and the errors and reports it hands back (docs/CLIENT.md), and the
// small argument checks every call shares. Browser-safe.

import { CODE, HsmError } from '../core/codes.ts';
import type { CryptoEngine } from '../wire/crypto-engine.ts';
import { NAME_PATTERN } from '../wire/messages.ts';
import type { KdfLimits } from '../wire/scram.ts';
import type { ConnectionFactory } from './connection.ts';

/** Nodes in one load-balancing list (DINAMO's limit). */
export const CLIENT_NODES_MAX = 16;
/** The most busy retries a caller may configure, and the longest backoff. */
export const BUSY_RETRIES_LIMIT = 100;
export const BACKOFF_LIMIT_MS = 60_000;

export interface RetryPolicy {
  /** Retries of a busy answer per call (0..BUSY_RETRIES_LIMIT). */
  readonly busyRetriesMax: number;
  /** The first backoff's upper bound; it doubles per retry up to backoffMaxMs. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  busyRetriesMax: 8,
  backoffBaseMs: 25,
  backoffMaxMs: 2000,
};

export interface HsmClientOptions {
  /** Node addresses, 1..16, as the connection factory understands them. */
  readonly nodes: readonly string[];
  readonly user: string;
  readonly password: string;
  /** How to reach a node; default: WebSocket (default-connections.ts). */
  readonly connections?: ConnectionFactory;
  /** false: DINAMO's "bypass load balancing" — use the first node that works, in list order. */
  readonly loadBalancing?: boolean;
  readonly retry?: Partial<RetryPolicy>;
  /** A reply later than this fails the node (NET_TIMEOUT). Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** How long a failed node is skipped. Default 5 s. */
  readonly nodeRetryAfterMs?: number;
  /** Password-hashing parameters the client accepts from a node (a node cannot make it hash too little). */
  readonly kdfLimits?: Partial<KdfLimits>;
  readonly randomBytes?: (length: number) => Uint8Array;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly engine?: CryptoEngine;
}

/** Options of every persistent write. */
export interface WriteOptions {
  /**
   * The write's request id, 32 lowercase hex digits (default: 16 random bytes). Send the same
   * write again with the same id after WRITE_OUTCOME_UNKNOWN: it runs at most once, and the
   * retry gets the original outcome.
   */
  readonly requestId?: string;
}

export interface KeyOptions extends WriteOptions {
  readonly exportable?: boolean;
  readonly temporary?: boolean;
}

/** What the pool knows of a write (`client.outcome`, docs/CLIENT.md "Outcomes"). */
export interface WriteOutcomeReport {
  readonly requestId: string;
  /**
   * committed: code 0, in transaction txid. not committed: it ran and failed with `code`
   * (nothing changed; the pool remembers that answer). pending: queued or in a transaction
   * on some node, not known yet. unknown: no node that answered knows it or holds it: it has
   * not committed so far (a node that did not answer may still hold it), and sending it again
   * with the same request id is safe (it runs at most once).
   */
  readonly state: 'committed' | 'not committed' | 'pending' | 'unknown';
  readonly code?: number;
  readonly txid?: string;
}

/** WRITE_OUTCOME_UNKNOWN (1006): the write may or may not have committed; `requestId` names it. */
export class WriteOutcomeUnknownError extends HsmError {
  constructor(
    readonly requestId: string,
    detail: string,
  ) {
    super(CODE.WRITE_OUTCOME_UNKNOWN, `request ${requestId}: ${detail}`);
  }
}

export interface NodeStatus {
  readonly address: string;
  /** Skipped until this time (client clock, ms); 0 when healthy. */
  readonly downUntilMs: number;
}

export function invalid(detail: string): HsmError {
  return new HsmError(CODE.INVALID_PARAM, detail);
}

export function checkName(name: string, what = 'name'): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name))
    throw new HsmError(CODE.INVALID_OBJ_NAME, `${what}: 1 to 32 characters of [A-Za-z0-9_.@-]`);
}

export function boundedInteger(value: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw invalid(`${what}: expected an integer in ${min}..${max}`);
  return value;
}

/** The caller's retry policy over the defaults, every field checked. */
export function retryPolicyOf(retry: Partial<RetryPolicy> = {}): RetryPolicy {
  const merged = { ...DEFAULT_RETRY, ...retry };
  return {
    busyRetriesMax: boundedInteger(
      merged.busyRetriesMax,
      0,
      BUSY_RETRIES_LIMIT,
      'retry.busyRetriesMax',
    ),
    backoffBaseMs: boundedInteger(merged.backoffBaseMs, 0, BACKOFF_LIMIT_MS, 'retry.backoffBaseMs'),
    backoffMaxMs: boundedInteger(merged.backoffMaxMs, 0, BACKOFF_LIMIT_MS, 'retry.backoffMaxMs'),
  };
}
