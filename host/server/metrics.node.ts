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
import {
  TICK_MS,
  type ApplianceObserver,
  type ReplicationEvent,
  type ReplicationInfo,
} from '../appliance/appliance.ts';
import type { NodeHost } from '../appliance/node-host.ts';
import type { RequestObserver } from './sessions.ts';
import { nodeState } from './console-status.ts';
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

/** The counters and histograms a node keeps, in the order /metrics lists them. */
function createCounters(registers: Registry[]) {
  return {
    commits: new Counter({
      name: 'hsmpool_commits_total',
      help: 'Transactions committed on this node (as coordinator or participant).',
      registers,
    }),
    aborts: new Counter({
      name: 'hsmpool_aborts_total',
      help: 'Transactions aborted on this node, by reason (a return code).',
      labelNames: ['reason'] as const,
      registers,
    }),
    events: new Counter({
      name: 'hsmpool_replication_events_total',
      help: 'Replication events recorded on this node (prepare, commit, abort, node-down, node-added, checkpoint).',
      labelNames: ['event'] as const,
      registers,
    }),
    answers: new Counter({
      name: 'hsmpool_client_writes_total',
      help: 'Client writes answered by this node, by return code.',
      labelNames: ['code'] as const,
      registers,
    }),
    busy: new Counter({
      name: 'hsmpool_busy_answers_total',
      help: 'Client writes answered busy (36000: not committed, retry).',
      registers,
    }),
    requests: new Counter({
      name: 'hsmpool_requests_total',
      help: 'Client requests answered by this node, by operation and kind (read or write).',
      labelNames: ['operation', 'kind'] as const,
      registers,
    }),
    commitLatency: new Histogram({
      name: 'hsmpool_commit_latency_seconds',
      help: 'Time from a client write reaching this node to its committed answer.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    fsyncLatency: new Histogram({
      name: 'hsmpool_fsync_latency_seconds',
      help: 'Time of one durable log append (write and fsync).',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
  };
}

type Peer = NonNullable<ReplicationInfo['nodes'][number]['peer']>;

export class NodeMetrics {
  readonly registry = new Registry();
  private node: NodeHost | undefined;
  private sessions: () => number = () => 0;
  private readonly counters: ReturnType<typeof createCounters>;
  private readonly labels = new Map<string, Set<string>>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hsmpool_process_' });
    this.counters = createCounters([this.registry]);
    this.addNodeGauges();
    const attached = (): NodeHost | undefined => this.node;
    new Gauge({
      name: 'hsmpool_sync_point_info',
      help: "This node's Sync-Point and SPVV (value 1).",
      labelNames: ['sp', 'spvv', 'node'],
      registers: [this.registry],
      collect: function (this: Gauge<'sp' | 'spvv' | 'node'>) {
        const info = attached()?.appliance.info();
        if (!info) return;
        this.reset();
        this.set({ sp: info.syncPoint.hex, spvv: info.syncPoint.spvvHex, node: info.id }, 1);
      },
    });
    new Gauge({
      name: 'hsmpool_build_info',
      help: 'Version and operating mode (value 1).',
      labelNames: ['version', 'mode'],
      registers: [this.registry],
      collect: function (this: Gauge<'version' | 'mode'>) {
        this.set({ version: HSMPOOL_VERSION, mode: OPERATING_MODE }, 1);
      },
    });
    this.peerGauge(
      'hsmpool_peer_last_heard_seconds',
      'Seconds since this node last heard each peer (idle peers heartbeat every second).',
      (peer, info) => ((info.tick - peer.tick) * TICK_MS) / 1000,
    );
    this.peerGauge(
      'hsmpool_peer_synced',
      "1 when the peer's last SP and SPVV equal this node's, 0 otherwise.",
      (peer, info) =>
        peer.sp === info.syncPoint.sp && peer.spvv === info.syncPoint.spvv && !peer.notSynced
          ? 1
          : 0,
    );
  }

  private addNodeGauges(): void {
    this.gauge(
      'hsmpool_ptl_age_seconds',
      'Age of the oldest pending transaction here (0: none).',
      (node) => {
        const { pending, tick } = node.appliance.info();
        const now = node.appliance.now();
        const ages = pending.map((p) =>
          p.loggedAt !== undefined ? now - p.loggedAt : (tick - p.tick) * TICK_MS,
        );
        return ages.length ? Math.max(...ages) / 1000 : 0;
      },
    );
    this.gauge(
      'hsmpool_ptl_transactions',
      'Pending transactions here.',
      (node) => node.appliance.info().pending.length,
    );
    this.gauge(
      'hsmpool_write_queue_depth',
      'Writes queued for the next transaction.',
      (node) => node.appliance.info().queuedWrites,
    );
    this.gauge('hsmpool_sessions', 'Open client and console sessions.', () => this.sessions());
    this.gauge(
      'hsmpool_records',
      'Records in the key store.',
      (node) => node.appliance.info().syncPoint.count,
    );
    this.gauge('hsmpool_epoch', 'Membership epoch.', (node) => node.appliance.info().epoch);
    this.gauge('hsmpool_fenced', '1 when this node was declared down.', (node) =>
      node.appliance.info().fenced ? 1 : 0,
    );
    this.gauge('hsmpool_diverged', "1 when this node's state diverged from the pool.", (node) =>
      node.appliance.info().diverged ? 1 : 0,
    );
    this.gauge(
      'hsmpool_live_sync_running',
      '1 while a live-sync replaces this node state.',
      (node) => (node.liveSyncing ? 1 : 0),
    );
    this.gauge('hsmpool_ready', '1 when /readyz answers 200.', (node) =>
      health(node).ready ? 1 : 0,
    );
  }

  /** A gauge read from the attached node at each scrape (left unset before one is attached). */
  private gauge(name: string, help: string, value: (node: NodeHost) => number): void {
    const attached = (): NodeHost | undefined => this.node;
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect: function (this: Gauge) {
        const node = attached();
        if (node) this.set(value(node));
      },
    });
  }

  /** A gauge with one value per peer this node has heard of, read at each scrape. */
  private peerGauge(
    name: string,
    help: string,
    value: (peer: Peer, info: ReplicationInfo) => number,
  ): void {
    const attached = (): NodeHost | undefined => this.node;
    new Gauge({
      name,
      help,
      labelNames: ['peer'],
      registers: [this.registry],
      collect: function (this: Gauge<'peer'>) {
        const node = attached();
        if (!node) return;
        const info = node.appliance.info();
        this.reset();
        for (const n of info.nodes)
          if (n.peer && !n.self) this.set({ peer: n.id }, value(n.peer, info));
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
      this.counters.events.inc({ event: this.label('event', event.event) });
      if (event.event.startsWith('commit')) this.counters.commits.inc();
      if (event.event === 'abort') {
        const reason = /reason (\d+)/.exec(event.detail ?? '')?.[1] ?? 'unknown';
        this.counters.aborts.inc({ reason: this.label('reason', reason) });
      }
    },
    written: (code, ms) => {
      this.counters.answers.inc({ code: this.label('code', String(code)) });
      if (code === CODE.REPLICATION_BUSY) this.counters.busy.inc();
      if (code === 0) this.counters.commitLatency.observe(ms / 1000);
    },
    persisted: (ms) => this.counters.fsyncLatency.observe(ms / 1000),
  };

  readonly request: RequestObserver = ({ type }) => {
    if (type === 'console') return;
    this.counters.requests.inc({
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
  const state = nodeState(info, node.liveSyncing);
  const healthy = !info.storage.broken && !info.fenced && !info.diverged;
  return { healthy, ready: healthy && state === 'member', state };
}
