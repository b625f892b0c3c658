// The pool as a picture: the nodes on a ring (colour = Sync-Point, so equal SPs look equal),
// every link (a cut one dashed red), the frames in flight as moving dots, and below it a
// timeline of commits per node. It also counts its own frames (the frames/s the page shows and
// bench:web reports) and tells which node or link a click hit.

import { FULL_SPEED_TICKS, type Flight } from './tab-pool.ts';
import { nodeState, spColor, type ShownPool } from './view.ts';

interface Point {
  readonly x: number;
  readonly y: number;
}

interface Commit {
  readonly at: number;
  readonly node: number;
  readonly color: string;
}

/** How far back the timeline of commits reaches. */
const TIMELINE_MS = 20_000;
/** Frames in flight drawn at most (16 appliances under load send thousands a second). */
const FLIGHTS_DRAWN_MAX = 600;
/** The timeline is redrawn at most this often. */
const TIMELINE_REDRAW_MS = 100;
/** Commits remembered for the timeline, at most. */
const COMMITS_MAX = 5000;
/** A dot's flight time at full speed, in ms. */
const FLIGHT_MS = 350;
const NODE_RADIUS = 26;

function resize(canvas: HTMLCanvasElement): void {
  const width = Math.round(canvas.clientWidth * devicePixelRatio);
  const height = Math.round(canvas.clientHeight * devicePixelRatio);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
}

function distanceToSegment(p: Point, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const t = Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

export class Picture {
  private readonly context: CanvasRenderingContext2D;
  private readonly timelineContext: CanvasRenderingContext2D;
  private readonly commits: Commit[] = [];
  private readonly lastSp = new Map<number, string>();
  private frames = 0;
  private timelineAt = 0;
  private framesSince = performance.now();
  /** Frames per second over the last whole second. */
  fps = 0;
  /** The pool's speed (ticks per second): dots fly slower when the pool runs slower. */
  ticksPerSecond = FULL_SPEED_TICKS;
  /** The node drawn as selected. */
  selected = 0;
  /** While set, every frame's requestAnimationFrame timestamp (bench:web). */
  private recording: number[] | undefined;

  constructor(
    private readonly pool: ShownPool,
    private readonly ring: HTMLCanvasElement,
    private readonly timeline: HTMLCanvasElement,
  ) {
    this.context = ring.getContext('2d')!;
    this.timelineContext = timeline.getContext('2d')!;
  }

  /** A status report arrived: a node whose SP moved committed something. */
  noteSyncPoints(now: number): void {
    for (const node of this.pool.nodes) {
      const sp = node.status?.info.syncPoint.hex;
      if (!sp || this.lastSp.get(node.index) === sp) continue;
      if (this.lastSp.has(node.index))
        this.commits.push({ at: now, node: node.index, color: spColor(sp) });
      this.lastSp.set(node.index, sp);
    }
    if (this.commits.length > COMMITS_MAX)
      this.commits.splice(0, this.commits.length - COMMITS_MAX);
  }

  /** Starts keeping every frame's timestamp; stop() hands them over. */
  record(): { stop(): number[] } {
    const times: number[] = [];
    this.recording = times;
    return {
      stop: () => {
        if (this.recording === times) this.recording = undefined;
        return times;
      },
    };
  }

  /** Draws one frame; returns true once a second, when fps was updated. */
  draw(now: number): boolean {
    resize(this.ring);
    const at = this.positions();
    this.context.clearRect(0, 0, this.ring.width, this.ring.height);
    this.drawLinks(at);
    this.drawFlights(at, now);
    for (const node of this.pool.nodes) this.drawNode(node.index, at[node.index]);
    // The timeline moves ~1 px per 20 ms: ten redraws a second look the same, and spare the
    // compositor a second canvas to take in most frames.
    if (now - this.timelineAt >= TIMELINE_REDRAW_MS) {
      this.timelineAt = now;
      this.drawTimeline(now);
    }
    this.recording?.push(now);
    this.frames++;
    if (now - this.framesSince < 1000) return false;
    this.fps = (this.frames * 1000) / (now - this.framesSince);
    this.frames = 0;
    this.framesSince = now;
    return true;
  }

  /** What a click at (clientX, clientY) hit: a node, a link between two nodes, or nothing. */
  hit(clientX: number, clientY: number): { node: number } | { link: [number, number] } | undefined {
    const rect = this.ring.getBoundingClientRect();
    const p = {
      x: (clientX - rect.left) * devicePixelRatio,
      y: (clientY - rect.top) * devicePixelRatio,
    };
    const at = this.positions();
    const node = at.findIndex(
      (q) => Math.hypot(q.x - p.x, q.y - p.y) < (NODE_RADIUS + 2) * devicePixelRatio,
    );
    if (node >= 0) return { node };
    let best: { link: [number, number]; d: number } | undefined;
    for (let a = 0; a < at.length; a++)
      for (let b = a + 1; b < at.length; b++) {
        const d = distanceToSegment(p, at[a], at[b]);
        if (d < 8 * devicePixelRatio && (!best || d < best.d)) best = { link: [a, b], d };
      }
    return best && { link: best.link };
  }

  private positions(): Point[] {
    const { width, height } = this.ring;
    const n = this.pool.nodes.length;
    const radius = Math.min(width, height) / 2 - 50 * devicePixelRatio;
    return this.pool.nodes.map((_, i) => {
      const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
      return {
        x: width / 2 + radius * Math.cos(angle),
        y: height / 2 + radius * Math.sin(angle),
      };
    });
  }

  /** Every link: the intact ones as one path, the cut ones (dashed, red) as another. */
  private drawLinks(at: Point[]): void {
    const context = this.context;
    const dpr = devicePixelRatio;
    for (const cut of [false, true]) {
      context.strokeStyle = cut ? '#ef5350' : '#2f3b48';
      context.setLineDash(cut ? [6 * dpr, 6 * dpr] : []);
      context.lineWidth = (cut ? 2 : 1) * dpr;
      context.beginPath();
      for (let a = 0; a < at.length; a++)
        for (let b = a + 1; b < at.length; b++) {
          if (this.pool.isCut(a, b) !== cut) continue;
          context.moveTo(at[a].x, at[a].y);
          context.lineTo(at[b].x, at[b].y);
        }
      context.stroke();
    }
    context.setLineDash([]);
  }

  /** A dot per frame sent, all in one path: 16 busy appliances send thousands a second. */
  private drawFlights(at: Point[], now: number): void {
    const duration = FLIGHT_MS * Math.min(10, FULL_SPEED_TICKS / this.ticksPerSecond);
    const flights: Flight[] = this.pool.flights;
    let first = 0;
    while (first < flights.length && now - flights[first].at > duration) first++;
    if (first > 0) flights.splice(0, first);
    const context = this.context;
    context.fillStyle = '#5aa9ff';
    context.beginPath();
    // The newest FLIGHTS_DRAWN_MAX: more dots than that on one ring read as a blur anyway.
    for (let i = Math.max(0, flights.length - FLIGHTS_DRAWN_MAX); i < flights.length; i++) {
      const flight = flights[i];
      const progress = (now - flight.at) / duration;
      const from = at[flight.from];
      const to = at[flight.to];
      if (!from || !to) continue;
      const radius = (flight.bytes > 400 ? 4 : 2.5) * devicePixelRatio;
      const x = from.x + (to.x - from.x) * progress;
      const y = from.y + (to.y - from.y) * progress;
      context.moveTo(x + radius, y);
      context.arc(x, y, radius, 0, 2 * Math.PI);
    }
    context.fill();
  }

  private drawNode(index: number, { x, y }: Point): void {
    const context = this.context;
    const dpr = devicePixelRatio;
    const node = this.pool.nodes[index];
    const state = nodeState(node);
    const info = node.status?.info;
    const r = NODE_RADIUS * dpr;
    const selected = index === this.selected;
    context.beginPath();
    context.arc(x, y, r, 0, 2 * Math.PI);
    context.fillStyle = state === 'dead' ? '#222' : spColor(info?.syncPoint.hex);
    context.globalAlpha = state === 'dead' ? 1 : state === 'paused' ? 0.45 : 0.9;
    context.fill();
    context.globalAlpha = 1;
    context.lineWidth = (selected ? 4 : 2) * dpr;
    context.strokeStyle =
      state === 'member'
        ? selected
          ? '#fff'
          : '#4cc38a'
        : state === 'dead' || state === 'fenced'
          ? '#ef5350'
          : '#f0b429';
    context.stroke();
    context.fillStyle = '#fff';
    context.font = `${12 * dpr}px system-ui`;
    context.textAlign = 'center';
    context.fillText(String(index + 1), x, y + 4 * dpr);
    context.font = `${10 * dpr}px ui-monospace, monospace`;
    context.fillStyle = '#d8dee6';
    const progress = node.progress;
    const label =
      state === 'member'
        ? (info?.syncPoint.hex.slice(0, 8) ?? '')
        : state === 'joining' && progress
          ? `joining ${Math.round((100 * progress.records) / Math.max(1, progress.totalRecords))}%`
          : state;
    context.fillText(label, x, y + r + 13 * dpr);
    if (info && info.pending.length > 0) {
      context.fillStyle = '#f0b429';
      context.fillText(`PTL ${info.pending[0].state}`, x, y - r - 6 * dpr);
    }
  }

  private drawTimeline(now: number): void {
    const canvas = this.timeline;
    const context = this.timelineContext;
    resize(canvas);
    const { width, height } = canvas;
    context.clearRect(0, 0, width, height);
    const rowHeight = height / this.pool.nodes.length;
    context.fillStyle = '#8a96a3';
    context.font = `${9 * devicePixelRatio}px system-ui`;
    context.fillText('commits, last 20 s', 4, 10 * devicePixelRatio);
    for (let i = this.commits.length - 1; i >= 0; i--) {
      const commit = this.commits[i];
      const age = now - commit.at;
      if (age > TIMELINE_MS) break;
      const x = width - (age / TIMELINE_MS) * width;
      context.fillStyle = commit.color;
      context.fillRect(x, commit.node * rowHeight + 1, 2 * devicePixelRatio, rowHeight - 2);
    }
  }
}
