// A node's metrics in the Prometheus text format (prom-client), and its health: served on the
// node's own port as GET /metrics, /healthz and /readyz (host/transport/ws.node.ts hands plain
// HTTP requests here). Node only: browser code never imports prom-client.
//
//   /healthz  200 while the node serves: storage working, not fenced, not diverged; else 503
//   /readyz   200 when ready for clients behind a load balancer: /healthz, and a member of the
//             pool, synced (no live-sync under way); else 503
// Both answer a small JSON body with the state.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApplianceObserver, ReplicationEvent } from '../appliance/appliance.ts';
import { TICK_MS } from '../appliance/appliance.ts';
import type { NodeHost } from '../appliance/node-host.ts';
import type { RequestObserver } from './sessions.ts';
import { HSMPOOL_VERSION, OPERATING_MODE } from '../core/version.ts';
import { CODE } from '../core/codes.ts';

/** Request types that change nothing (reads served by this node alone). */
const WRITES = new Set([
  'key.generate',
  'key.import',
  'key.remove',
  'key.grant',
  'user.create',
  'user.delete',
  'user.password',
  'user.unlock',
  'policy.set',
]);
/** Label values kept per metric: request types and abort reasons beyond this share 'other'. */
export const LABEL_VALUES_MAX = 64;

export interface NodeHealth {
  readonly healthy: boolean;
  readonly ready: boolean;
  readonly state: string;
}

export class NodeMetrics {
  readonly registry = new Registry();
  private node: NodeHost | undefined;
  private sessions: () => number = () => 0;
  private readonly commits: Counter;
  private readonly aborts: Counter<'reason'>;
  private readonly answers: Counter<'code'>;
  private readonly busy: Counter;
  private readonly requests: Counter<'operation' | 'kind'>;
  private readonly commitLatency: Histogram;
  private readonly fsyncLatency: Histogram;
  private readonly events: Counter<'event'>;
  private readonly labels = new Map<string, Set<string>>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'hsmpool_process_' });
    this.commits = new Counter({
      name: 'hsmpool_commits_total',
      help: 'Transactions committed on this node (as coordinator or participant).',
      registers,
    });
    this.aborts = new Counter({
      name: 'hsmpool_aborts_total',
      help: 'Transactions aborted on this node, by reason (a return code).',
      labelNames: ['reason'],
      registers,
    });
    this.events = new Counter({
      name: 'hsmpool_replication_events_total',
      help: 'Replication events recorded on this node (prepare, commit, abort, node-down, node-added, checkpoint).',
      labelNames: ['event'],
      registers,
    });
    this.answers = new Counter({
      name: 'hsmpool_client_writes_total',
      help: 'Client writes answered by this node, by return code.',
      labelNames: ['code'],
      registers,
    });
    this.busy = new Counter({
      name: 'hsmpool_busy_answers_total',
      help: 'Client writes answered busy (36000: not committed, retry).',
      registers,
    });
    this.requests = new Counter({
      name: 'hsmpool_requests_total',
      help: 'Client requests answered by this node, by operation and kind (read or write).',
      labelNames: ['operation', 'kind'],
      registers,
    });
    this.commitLatency = new Histogram({
      name: 'hsmpool_commit_latency_seconds',
      help: 'Time from a client write reaching this node to its committed answer.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.fsyncLatency = new Histogram({
      name: 'hsmpool_fsync_latency_seconds',
      help: 'Time of one durable log append (write and fsync).',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const gauge = (name: string, help: string, value: (node: NodeHost) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect: function (this: Gauge) {
          const node = metrics.node;
          if (node) this.set(value(node));
        },
      });
    };
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const metrics = this;
    gauge(
      'hsmpool_ptl_age_seconds',
      'Age of the oldest pending transaction here (0: none).',
      (node) => {
        const info = node.appliance.info();
        const now = node.appliance.now();
        const ages = info.pending.map((p) =>
          p.loggedAt !== undefined ? now - p.loggedAt : (info.tick - p.tick) * TICK_MS,
        );
        return ages.length ? Math.max(...ages) / 1000 : 0;
      },
    );
    gauge('hsmpool_ptl_transactions', 'Pending transactions here.', (node) => {
      return node.appliance.info().pending.length;
    });
    gauge('hsmpool_write_queue_depth', 'Writes queued for the next transaction.', (node) => {
      return node.appliance.info().queuedWrites;
    });
    gauge('hsmpool_sessions', 'Open client and console sessions.', () => this.sessions());
    gauge('hsmpool_records', 'Records in the key store.', (node) => {
      return node.appliance.info().syncPoint.count;
    });
    gauge('hsmpool_epoch', 'Membership epoch.', (node) => node.appliance.info().epoch);
    gauge('hsmpool_fenced', '1 when this node was declared down.', (node) =>
      node.appliance.info().fenced ? 1 : 0,
    );
    gauge('hsmpool_diverged', "1 when this node's state diverged from the pool.", (node) =>
      node.appliance.info().diverged ? 1 : 0,
    );
    gauge('hsmpool_live_sync_running', '1 while a live-sync replaces this node state.', (node) =>
      node.liveSyncing ? 1 : 0,
    );
    gauge('hsmpool_ready', '1 when /readyz answers 200.', (node) => (health(node).ready ? 1 : 0));
    new Gauge({
      name: 'hsmpool_sync_point_info',
      help: "This node's Sync-Point and SPVV (value 1).",
      labelNames: ['sp', 'spvv', 'node'],
      registers,
      collect: function (this: Gauge<'sp' | 'spvv' | 'node'>) {
        const node = metrics.node;
        if (!node) return;
        const info = node.appliance.info();
        this.reset();
        this.set({ sp: info.syncPoint.hex, spvv: info.syncPoint.spvvHex, node: info.id }, 1);
      },
    });
    new Gauge({
      name: 'hsmpool_build_info',
      help: 'Version and operating mode (value 1).',
      labelNames: ['version', 'mode'],
      registers,
      collect: function (this: Gauge<'version' | 'mode'>) {
        this.set({ version: HSMPOOL_VERSION, mode: OPERATING_MODE }, 1);
      },
    });
    new Gauge({
      name: 'hsmpool_peer_last_heard_seconds',
      help: 'Seconds since this node last heard each peer (idle peers heartbeat every second).',
      labelNames: ['peer'],
      registers,
      collect: function (this: Gauge<'peer'>) {
        const node = metrics.node;
        if (!node) return;
        const info = node.appliance.info();
        this.reset();
        for (const n of info.nodes)
          if (n.peer && !n.self)
            this.set({ peer: n.id }, ((info.tick - n.peer.tick) * TICK_MS) / 1000);
      },
    });
    new Gauge({
      name: 'hsmpool_peer_synced',
      help: "1 when the peer's last SP and SPVV equal this node's, 0 otherwise.",
      labelNames: ['peer'],
      registers,
      collect: function (this: Gauge<'peer'>) {
        const node = metrics.node;
        if (!node) return;
        const info = node.appliance.info();
        this.reset();
        for (const n of info.nodes)
          if (n.peer && !n.self)
            this.set(
              { peer: n.id },
              n.peer.sp === info.syncPoint.sp &&
                n.peer.spvv === info.syncPoint.spvv &&
                !n.peer.notSynced
                ? 1
                : 0,
            );
      },
    });
  }

  /** Starts reading the node's state (gauges) and its sessions. */
  attach(node: NodeHost, sessions: () => number): void {
    this.node = node;
    this.sessions = sessions;
  }

  /** Keeps a label's value set finite: past LABEL_VALUES_MAX distinct values, 'other'. */
  private label(metric: string, value: string): string {
    const seen = this.labels.get(metric) ?? new Set<string>();
    this.labels.set(metric, seen);
    if (seen.has(value)) return value;
    if (seen.size >= LABEL_VALUES_MAX) return 'other';
    seen.add(value);
    return value;
  }

  readonly observer: ApplianceObserver = {
    event: (event: ReplicationEvent) => {
      this.events.inc({ event: this.label('event', event.event) });
      if (event.event.startsWith('commit')) this.commits.inc();
      if (event.event === 'abort') {
        const reason = /reason (\d+)/.exec(event.detail ?? '')?.[1] ?? 'unknown';
        this.aborts.inc({ reason: this.label('reason', reason) });
      }
    },
    written: (code, ms) => {
      this.answers.inc({ code: this.label('code', String(code)) });
      if (code === CODE.REPLICATION_BUSY) this.busy.inc();
      if (code === 0) this.commitLatency.observe(ms / 1000);
    },
    persisted: (ms) => this.fsyncLatency.observe(ms / 1000),
  };

  readonly request: RequestObserver = ({ type }) => {
    if (type === 'console') return;
    this.requests.inc({
      operation: this.label('operation', type),
      kind: WRITES.has(type) ? 'write' : 'read',
    });
  };

  /** Answers GET /metrics, /healthz, /readyz; false for any other path (the caller answers). */
  serve(request: IncomingMessage, response: ServerResponse): boolean {
    const path = new URL(request.url ?? '/', 'http://node').pathname;
    if (path === '/metrics') {
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) =>
          response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
      );
      return true;
    }
    if (path === '/healthz' || path === '/readyz') {
      const state = this.node
        ? health(this.node)
        : { healthy: false, ready: false, state: 'starting' };
      const ok = path === '/healthz' ? state.healthy : state.ready;
      response
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(state) + '\n');
      return true;
    }
    return false;
  }
}

export function health(node: NodeHost): NodeHealth {
  const info = node.appliance.info();
  const self = info.nodes.find((n) => n.self);
  const state = info.storage.broken
    ? 'stopped'
    : info.fenced
      ? 'fenced'
      : info.diverged
        ? 'diverged'
        : node.liveSyncing
          ? 'live-syncing'
          : self?.member
            ? 'member'
            : 'not-member';
  const healthy = !info.storage.broken && !info.fenced && !info.diverged;
  return { healthy, ready: healthy && state === 'member', state };
}
