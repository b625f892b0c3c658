// How one SDK call reaches the pool: pick a node (round-robin reads, a write home), (re)open
// its session, send, and on failure fail over, back off busy answers, renew an expired
// session, or give up; a replicated write whose fate an attempt left unknown gives up with
// WRITE_OUTCOME_UNKNOWN. Also the outcome query that settles such a write later.
// Browser-safe.

import { CODE, HsmError, writeOutcome } from '../core/codes.ts';
import type {
  RequestMap,
  RequestType,
  ResultOf,
  ServiceRequest,
  ServiceResponse,
} from '../wire/messages.ts';
import { NODE_STALE_CODES, NodeLink, isNodeFailure, type LinkSession } from './node-link.ts';
import { WriteOutcomeUnknownError, type RetryPolicy, type WriteOutcomeReport } from './options.ts';

const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  CODE.REPLICATION_BUSY,
  CODE.REPLICATION_D_BUSY,
  CODE.REPLICATION_S_BUSY,
  CODE.REPLICATION_STORAGE_LAYER_BUSY,
  CODE.REPLICATION_SEC_LAYER_BUSY,
  CODE.SERVER_BUSY,
]);
/** Answers meaning "this node cannot serve you, another can": fenced by node-down (38502 for
 * writes, 38503 for reads), diverged (38504), or stopped. */
const NODE_GONE_CODES: ReadonlySet<number> = new Set([
  CODE.NODE_FENCED,
  CODE.CANNOT_WORK,
  ...NODE_STALE_CODES,
]);
/** Node answers to an outcome query that carry no outcome. */
const NO_OUTCOME_HERE: ReadonlySet<number> = new Set([
  CODE.NODE_FENCED,
  CODE.CANNOT_WORK,
  CODE.REPLICATION_BUSY,
  ...NODE_STALE_CODES,
]);
/** A session that expired is renewed once per call, then the failure is reported. */
const SESSION_RENEWALS_MAX = 1;

export interface Attempt {
  readonly link: NodeLink;
  readonly session: LinkSession;
}

export type Route =
  | { readonly kind: 'read' | 'write' }
  | { readonly kind: 'pinned'; readonly link: NodeLink; readonly generation: number };

export type RequestOf<T extends RequestType> = { readonly type: T } & RequestMap[T]['request'];

export interface CallsOptions {
  readonly links: NodeLink[];
  readonly retry: RetryPolicy;
  /** false: use the first node that works, in list order. */
  readonly loadBalancing: boolean;
  /** How long a failed node is skipped. */
  readonly nodeRetryAfterMs: number;
  readonly randomBytes: (length: number) => Uint8Array;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

/** "ADDRESS: NAME (CODE) ..." for each node, so an operator sees every node's reason. */
function describeFailures(failures: ReadonlyMap<string, HsmError>): string {
  if (failures.size === 0) return 'none reachable';
  return [...failures]
    .map(([address, error]) => `${address}: ${error.codeName} (${error.code})`)
    .join('; ');
}

/** One call's retry state: the nodes that failed it, its retries, and why its fate may be unknown. */
class Call {
  readonly failed = new Set<NodeLink>();
  busyRetries = 0;
  renewals = 0;
  /** Each failed node's last failure, in the order they failed (ALL_NODES_FAILED names them). */
  readonly failures = new Map<string, HsmError>();
  /** Why some attempt's fate is unknown (undefined: every attempt was refused). */
  unknownBecause: string | undefined;
  constructor(readonly requestId: string | undefined) {}

  /** The error the call ends with: WRITE_OUTCOME_UNKNOWN once a write attempt's fate is unknown. */
  giveUp(failure: HsmError): HsmError {
    return this.requestId !== undefined && this.unknownBecause !== undefined
      ? new WriteOutcomeUnknownError(
          this.requestId,
          `${this.unknownBecause}; gave up with ${failure.codeName} (${failure.code})`,
        )
      : failure;
  }
}

export class Calls {
  closed = false;
  private readonly links: NodeLink[];
  private writeHome: NodeLink | undefined;
  private nextRead: number;

  constructor(private readonly options: CallsOptions) {
    this.links = options.links;
    // Clients that start together should not all land on the first node.
    this.nextRead = options.loadBalancing ? options.randomBytes(1)[0] % this.links.length : 0;
  }

  close(): void {
    this.closed = true;
    for (const link of this.links) link.close();
  }

  /**
   * Runs one call: picks a node, (re)opens its session, sends what `build` makes for that
   * attempt (sealed fields depend on the session), and handles failover, busy retries and
   * session renewal. `build` must reuse the call's request id on every attempt.
   *
   * `requestId`: the call is a replicated write. An attempt whose fate is unknown (sent, then
   * the connection was lost or timed out; answered "outcome pending"; the node stopped) makes
   * the call fail with WRITE_OUTCOME_UNKNOWN if it gives up, never with a busy code: that one
   * it reports only when every attempt was refused without being queued.
   */
  async perform<T extends RequestType>(
    route: Route,
    build: (attempt: Attempt) => RequestOf<T> | Promise<RequestOf<T>>,
    requestId?: string,
  ): Promise<{ result: ResultOf<T>; attempt: Attempt }> {
    if (this.closed) throw new HsmError(CODE.CLIENT_CLOSED);
    const call = new Call(requestId);
    for (;;) {
      const link = route.kind === 'pinned' ? route.link : this.pick(route.kind, call.failed);
      if (!link)
        throw call.giveUp(
          new HsmError(
            CODE.ALL_NODES_FAILED,
            `all ${this.links.length} node(s) failed: ${describeFailures(call.failures)}`,
          ),
        );
      const sent = await this.attempt<T>(call, route, link, build);
      if (sent === undefined) continue;
      const { response, attempt } = sent;
      if (response.code === 0) {
        link.downUntilMs = 0;
        if (route.kind === 'write') this.writeHome = link;
        return { result: (response as { result: ResultOf<T> }).result, attempt };
      }
      const failure = new HsmError(
        response.code,
        'message' in response ? response.message : undefined,
      );
      if (!(await this.goesOn(call, route, link, failure))) throw call.giveUp(failure);
    }
  }

  /** One attempt on `link`; undefined when the node failed (it is marked, the call moves on). */
  private async attempt<T extends RequestType>(
    call: Call,
    route: Route,
    link: NodeLink,
    build: (attempt: Attempt) => RequestOf<T> | Promise<RequestOf<T>>,
  ): Promise<{ response: ServiceResponse<T>; attempt: Attempt } | undefined> {
    let sent = false;
    try {
      const session = await link.open();
      if (route.kind === 'pinned' && session.generation !== route.generation)
        throw new HsmError(CODE.TEMPORARY_KEY_LOST, `${link.address}: the session was renewed`);
      const attempt = { link, session };
      const request = (await build(attempt)) as ServiceRequest;
      sent = true;
      return { response: await link.request<T>(session, request), attempt };
    } catch (error) {
      if (!isNodeFailure(error)) throw error instanceof HsmError ? call.giveUp(error) : error;
      if (sent) call.unknownBecause ??= `sent to ${link.address}, then ${error.codeName}`;
      if (route.kind === 'pinned') throw new HsmError(CODE.TEMPORARY_KEY_LOST, error.message);
      call.failures.set(link.address, error);
      this.markFailed(link, call.failed);
      return undefined;
    }
  }

  /** Whether the call goes on after `link` answered `failure`: a renewed session, a busy
   * backoff, or failover to another node. */
  private async goesOn(call: Call, route: Route, link: NodeLink, failure: HsmError) {
    const code = failure.code;
    if (call.requestId !== undefined && writeOutcome(code) === 'unknown')
      call.unknownBecause ??= `${link.address} answered ${failure.codeName} (${code})`;
    if (code === CODE.SESSION_EXPIRED) {
      link.endSession();
      if (route.kind === 'pinned') throw new HsmError(CODE.TEMPORARY_KEY_LOST, failure.message);
      return call.renewals++ < SESSION_RENEWALS_MAX;
    }
    if (
      // WRITE_OUTCOME_PENDING: queued or in a transaction past the node's deadline; retried with
      // the same request id (the retry waits for the original) like a busy answer.
      (RETRYABLE_CODES.has(code) || code === CODE.WRITE_OUTCOME_PENDING) &&
      call.busyRetries < this.options.retry.busyRetriesMax
    ) {
      await this.options.sleep(this.backoffMs(call.busyRetries++));
      if (this.closed) throw call.giveUp(new HsmError(CODE.CLIENT_CLOSED));
      return true;
    }
    if (NODE_GONE_CODES.has(code) && route.kind !== 'pinned') {
      call.failures.set(link.address, failure);
      this.markFailed(link, call.failed);
      return true;
    }
    return false;
  }

  /** HsmClient.outcome: asks the nodes in turn until one remembers the write's outcome. */
  async outcome(requestId: string): Promise<WriteOutcomeReport> {
    if (this.closed) throw new HsmError(CODE.CLIENT_CLOSED);
    let pending = false;
    let unknown = false;
    let lastFailure: HsmError | undefined;
    for (const link of this.links) {
      let response;
      try {
        const session = await link.open();
        response = await link.request<'write.outcome'>(session, {
          type: 'write.outcome',
          requestId,
        });
      } catch (error) {
        if (!isNodeFailure(error)) throw error;
        lastFailure = error;
        continue;
      }
      if (response.code === 0) {
        const { code: outcomeCode, txid } = (response as { result: ResultOf<'write.outcome'> })
          .result;
        return {
          requestId,
          state: outcomeCode === 0 ? 'committed' : 'not committed',
          code: outcomeCode,
          ...(txid === undefined ? {} : { txid }),
        };
      }
      if (response.code === CODE.WRITE_OUTCOME_PENDING) pending = true;
      else if (response.code === CODE.REQUEST_ID_UNKNOWN) unknown = true;
      else if (response.code === CODE.SESSION_EXPIRED) link.endSession();
      else if (!NO_OUTCOME_HERE.has(response.code))
        throw new HsmError(response.code, 'message' in response ? response.message : undefined);
      lastFailure = new HsmError(response.code, `${link.address}`);
    }
    if (pending) return { requestId, state: 'pending' };
    if (unknown) return { requestId, state: 'unknown' };
    throw new HsmError(
      CODE.ALL_NODES_FAILED,
      `no node answered the outcome query; last: ${lastFailure?.message ?? 'none'}`,
    );
  }

  private markFailed(link: NodeLink, failed: Set<NodeLink>): void {
    failed.add(link);
    link.downUntilMs = this.options.now() + this.options.nodeRetryAfterMs;
    if (this.writeHome === link) this.writeHome = undefined;
  }

  /** The next node for a call: not failed in this call, preferably not skipped after a recent failure. */
  private pick(kind: 'read' | 'write', failed: ReadonlySet<NodeLink>): NodeLink | undefined {
    const now = this.options.now();
    const healthy = (link: NodeLink): boolean => !failed.has(link) && link.downUntilMs <= now;
    const untried = (link: NodeLink): boolean => !failed.has(link);
    if (!this.options.loadBalancing) return this.links.find(healthy) ?? this.links.find(untried);
    if (kind === 'write' && this.writeHome && healthy(this.writeHome)) return this.writeHome;
    const count = this.links.length;
    const start = kind === 'read' ? this.nextRead++ % count : this.nextRead % count;
    const order = Array.from({ length: count }, (_, i) => this.links[(start + i) % count]);
    return order.find(healthy) ?? order.find(untried);
  }

  /** Full jitter: uniform in [0, min(max, base · 2^retry)]. */
  private backoffMs(retry: number): number {
    const ceiling = Math.min(
      this.options.retry.backoffMaxMs,
      this.options.retry.backoffBaseMs * 2 ** Math.min(retry, 30),
    );
    const [a, b, c, d] = this.options.randomBytes(4);
    return Math.floor(((((a << 24) | (b << 16) | (c << 8) | d) >>> 0) / 2 ** 32) * (ceiling + 1));
  }
}
