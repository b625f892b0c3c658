// The page: a pool of appliances in Web Workers (tab-pool.ts), drawn as a ring with the frames
// in flight, their Sync-Points, PTL and events; controls to kill, restart, pause, cut links and
// declare nodes down; and a client pane running the real SDK against them.

import { HsmClient } from '../host/client/client.ts';
import { CODE, HsmError, describe } from '../host/core/codes.ts';
import type { KeyType } from '../host/core/records.ts';
import { RemotePool } from './remote-pool.ts';
import { ReplayPool, parseReplay } from './replay.ts';
import { FULL_SPEED_TICKS, TAB_NODES_MAX, TabPool, type TabNode } from './tab-pool.ts';
import { toHex } from '../host/wire/bytes.ts';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

function spColor(hex: string | undefined): string {
  if (!hex) return '#555';
  const value = parseInt(hex.slice(0, 6), 16) ^ parseInt(hex.slice(6, 12), 16);
  return `hsl(${value % 360}, 65%, 55%)`;
}

function nodeState(node: TabNode): string {
  if (!node.alive) return 'dead';
  if (node.failure) return 'dead';
  if (!node.ready || !node.status) return node.progress ? 'joining' : 'starting';
  if (node.paused) return 'paused';
  const info = node.status.info;
  if (info.fenced) return 'fenced';
  if (info.diverged) return 'diverged';
  const self = info.nodes.find((entry) => entry.self);
  return self && !self.member ? 'joining' : 'member';
}

const escape = (text: string): string =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

// ---- the pool ----

/** `?pool=HOST:PORT`: log in (SCRAM over WebSocket) and attach to a running Node pool. */
async function attach(seed: string): Promise<RemotePool> {
  const form = $('attach');
  form.hidden = false;
  $('attachseed').textContent = seed;
  for (;;) {
    await new Promise<void>((resolve) => ($('attachgo').onclick = () => resolve()));
    $('attacherror').textContent = 'logging in…';
    try {
      const remote = await RemotePool.attach(
        seed,
        $<HTMLInputElement>('attachuser').value,
        $<HTMLInputElement>('attachpass').value,
      );
      form.hidden = true;
      return remote;
    } catch (error) {
      // Wrong password, unreachable pool: the documented code and message; nothing changes.
      const failure = error instanceof HsmError ? error : undefined;
      const entry = describe(failure?.code ?? CODE.OPERATION_FAILED);
      $('attacherror').textContent = `${entry.code} ${entry.name}: ${
        error instanceof Error ? error.message : String(error)
      }`;
    }
  }
}

async function boot(): Promise<TabPool | RemotePool | ReplayPool> {
  const seed = params.get('pool');
  if (seed) return attach(seed);
  const replay = params.get('replay');
  if (replay) {
    const request = parseReplay(replay);
    if (request) {
      const module = await WebAssembly.compileStreaming(fetch(new URL('core.wasm', location.href)));
      const replaying = ReplayPool.start(request, module);
      // &step=1: start in single-step mode, at the world's first state.
      if (params.get('step') === '1') replaying.setStepping(true);
      return replaying;
    }
  }
  if (params.get('fresh') === '1') {
    await TabPool.forget();
    params.delete('fresh');
    history.replaceState(null, '', `${location.pathname}?${params}`);
  }
  const count = Number(params.get('nodes') ?? 3);
  const saved = TabPool.load(Math.min(TAB_NODES_MAX, Math.max(1, count)));
  const base = new URL('.', location.href);
  return TabPool.start(saved, new URL('core.wasm', base).href, new URL('worker.js', base).href);
}

const pool = await boot();
let selected = 0;

// ---- commits timeline ----

interface Commit {
  readonly at: number;
  readonly node: number;
  readonly sp: string;
}
const commits: Commit[] = [];
const lastSp = new Map<number, string>();
const TIMELINE_MS = 20_000;

pool.onStatus = () => {
  for (const node of pool.nodes) {
    const sp = node.status?.info.syncPoint.hex;
    if (!sp || lastSp.get(node.index) === sp) continue;
    if (lastSp.has(node.index)) commits.push({ at: performance.now(), node: node.index, sp });
    lastSp.set(node.index, sp);
  }
  if (commits.length > 5000) commits.splice(0, commits.length - 5000);
  tablesDirty = true;
  const state = nodeState(pool.nodes[selected]);
  if (state !== shownState) controlsDirty = true;
};
pool.onChange = () => {
  tablesDirty = true;
  controlsDirty = true;
};

// ---- the picture ----

const ring = $<HTMLCanvasElement>('ring');
const timeline = $<HTMLCanvasElement>('timeline');
const context = ring.getContext('2d')!;
const timelineContext = timeline.getContext('2d')!;
let frames = 0;
let fps = 0;
let fpsSince = performance.now();
let ticksPerSecond = FULL_SPEED_TICKS;

function positions(): { x: number; y: number }[] {
  const { width, height } = ring;
  const n = pool.nodes.length;
  const radius = Math.min(width, height) / 2 - 50 * devicePixelRatio;
  return pool.nodes.map((_, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return {
      x: width / 2 + radius * Math.cos(angle),
      y: height / 2 + radius * Math.sin(angle),
    };
  });
}

function resize(canvas: HTMLCanvasElement): void {
  const width = Math.round(canvas.clientWidth * devicePixelRatio);
  const height = Math.round(canvas.clientHeight * devicePixelRatio);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
}

function draw(now: number): void {
  resize(ring);
  const dpr = devicePixelRatio;
  const at = positions();
  context.clearRect(0, 0, ring.width, ring.height);
  // links
  for (let a = 0; a < at.length; a++) {
    for (let b = a + 1; b < at.length; b++) {
      const cut = pool.isCut(a, b);
      context.strokeStyle = cut ? '#ef5350' : '#2f3b48';
      context.setLineDash(cut ? [6 * dpr, 6 * dpr] : []);
      context.lineWidth = (cut ? 2 : 1) * dpr;
      context.beginPath();
      context.moveTo(at[a].x, at[a].y);
      context.lineTo(at[b].x, at[b].y);
      context.stroke();
    }
  }
  context.setLineDash([]);
  // frames in flight: a dot per relayed frame, slower when the pool runs slower
  const duration = 350 * Math.min(10, FULL_SPEED_TICKS / ticksPerSecond);
  const flights = pool.flights;
  let first = 0;
  while (first < flights.length && now - flights[first].at > duration) first++;
  if (first > 0) flights.splice(0, first);
  // One path for every dot: a frame with 16 busy appliances draws thousands of them.
  context.fillStyle = '#5aa9ff';
  context.beginPath();
  for (const flight of flights) {
    const progress = (now - flight.at) / duration;
    const from = at[flight.from];
    const to = at[flight.to];
    if (!from || !to) continue;
    const radius = (flight.bytes > 400 ? 4 : 2.5) * dpr;
    const x = from.x + (to.x - from.x) * progress;
    const y = from.y + (to.y - from.y) * progress;
    context.moveTo(x + radius, y);
    context.arc(x, y, radius, 0, 2 * Math.PI);
  }
  context.fill();
  // nodes
  for (const node of pool.nodes) {
    const { x, y } = at[node.index];
    const state = nodeState(node);
    const info = node.status?.info;
    const r = 26 * dpr;
    context.beginPath();
    context.arc(x, y, r, 0, 2 * Math.PI);
    context.fillStyle = state === 'dead' ? '#222' : spColor(info?.syncPoint.hex);
    context.globalAlpha = state === 'dead' ? 1 : state === 'paused' ? 0.45 : 0.9;
    context.fill();
    context.globalAlpha = 1;
    context.lineWidth = (node.index === selected ? 4 : 2) * dpr;
    context.strokeStyle =
      state === 'member'
        ? node.index === selected
          ? '#fff'
          : '#4cc38a'
        : state === 'dead' || state === 'fenced'
          ? '#ef5350'
          : '#f0b429';
    context.stroke();
    context.fillStyle = '#fff';
    context.font = `${12 * dpr}px system-ui`;
    context.textAlign = 'center';
    context.fillText(String(node.index + 1), x, y + 4 * dpr);
    context.font = `${10 * dpr}px ui-monospace, monospace`;
    context.fillStyle = '#d8dee6';
    const label =
      state === 'member'
        ? (info?.syncPoint.hex.slice(0, 8) ?? '')
        : state === 'joining' && node.progress
          ? `joining ${Math.round((100 * node.progress.records) / Math.max(1, node.progress.totalRecords))}%`
          : state;
    context.fillText(label, x, y + r + 13 * dpr);
    if (info && info.pending.length > 0) {
      context.fillStyle = '#f0b429';
      context.fillText(`PTL ${info.pending[0].state}`, x, y - r - 6 * dpr);
    }
  }
  drawTimeline(now);
  frames++;
  if (now - fpsSince >= 1000) {
    fps = (frames * 1000) / (now - fpsSince);
    frames = 0;
    fpsSince = now;
    $('fps').textContent = `${fps.toFixed(0)} frames/s`;
  }
  // The tables are text: four times a second is enough, and it keeps the frames for the picture.
  if (tablesDirty && now - tablesAt >= TABLES_MS) {
    tablesAt = now;
    renderTables();
  }
  if (controlsDirty) renderControls();
  /** bench:web: `writers` SDK clients (spread over the nodes) create keys for `seconds`; the
   * commits acknowledged, the codes of the failures, and the picture's frames/s each second. */
  async function load(
    seconds: number,
    writers: number,
  ): Promise<{ commits: number; failures: Record<number, number>; fps: number[]; ms: number }> {
    const clients = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        HsmClient.connect({
          nodes: [pool.nodes[w % pool.nodes.length].address],
          user: 'admin',
          password: pool.password,
          connections: pool.connections,
        }),
      ),
    );
    const fpsSamples: number[] = [];
    const sampler = setInterval(() => fpsSamples.push(fps), 1000);
    const began = performance.now();
    const end = began + seconds * 1000;
    let commits = 0;
    const failures: Record<number, number> = {};
    await Promise.all(
      clients.map(async (client, w) => {
        for (let i = 0; performance.now() < end; i++) {
          try {
            await client.generateKey(`load-${w}-${i}-${Math.round(began)}`, 'hmac-sha256');
            commits++;
          } catch (error) {
            const number = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
            failures[number] = (failures[number] ?? 0) + 1;
          }
        }
      }),
    );
    clearInterval(sampler);
    for (const client of clients) client.close();
    return { commits, failures, fps: fpsSamples, ms: performance.now() - began };
  }

  requestAnimationFrame(draw);
}

function drawTimeline(now: number): void {
  resize(timeline);
  const { width, height } = timeline;
  timelineContext.clearRect(0, 0, width, height);
  const rows = pool.nodes.length;
  const rowHeight = height / rows;
  timelineContext.fillStyle = '#8a96a3';
  timelineContext.font = `${9 * devicePixelRatio}px system-ui`;
  timelineContext.fillText('commits, last 20 s', 4, 10 * devicePixelRatio);
  for (let i = commits.length - 1; i >= 0; i--) {
    const commit = commits[i];
    const age = now - commit.at;
    if (age > TIMELINE_MS) break;
    const x = width - (age / TIMELINE_MS) * width;
    timelineContext.fillStyle = spColor(commit.sp);
    timelineContext.fillRect(x, commit.node * rowHeight + 1, 2 * devicePixelRatio, rowHeight - 2);
  }
}

function distanceToSegment(
  p: { x: number; y: number },
  a: { x: number; y: number },
  b: { x: number; y: number },
): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const t = Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

ring.addEventListener('click', (event) => {
  const rect = ring.getBoundingClientRect();
  const p = {
    x: (event.clientX - rect.left) * devicePixelRatio,
    y: (event.clientY - rect.top) * devicePixelRatio,
  };
  const at = positions();
  const hit = at.findIndex((q) => Math.hypot(q.x - p.x, q.y - p.y) < 28 * devicePixelRatio);
  if (hit >= 0) {
    selected = hit;
    controlsDirty = true;
    return;
  }
  let best: [number, number, number] | undefined;
  for (let a = 0; a < at.length; a++)
    for (let b = a + 1; b < at.length; b++) {
      const d = distanceToSegment(p, at[a], at[b]);
      if (d < 8 * devicePixelRatio && (!best || d < best[2])) best = [a, b, d];
    }
  if (best && pool.kind === 'tab') pool.setCut(best[0], best[1], !pool.isCut(best[0], best[1]));
});

// ---- tables ----

let tablesDirty = true;
let tablesAt = 0;
/** The tables (nodes, PTL, events) are rebuilt at most this often. */
const TABLES_MS = 250;
let controlsDirty = true;
let shownState = '';

/** A joining node's progress bar: records of the pool image received, then catch-up. */
function joinPercent(node: TabNode): string {
  const progress = node.progress!;
  const share = progress.totalRecords > 0 ? progress.records / progress.totalRecords : 0;
  const percent = Math.round(100 * Math.min(1, share));
  return `<progress max="100" value="${percent}"></progress> ${percent}% ${progress.phase} (${progress.records}/${progress.totalRecords} records, ${progress.commits} commits caught up)`;
}

function renderTables(): void {
  tablesDirty = false;
  const rows = pool.nodes.map((node) => {
    const info = node.status?.info;
    const state = nodeState(node);
    const sp = info?.syncPoint;
    // A dead node's figures are the last it reported, dimmed.
    return `<tr data-node="${node.index}"${node.alive ? '' : ' class="hint" title="last known"'}>
      <td>${node.index + 1}</td>
      <td class="mono">${node.id}</td>
      <td class="mono">${node.address}</td>
      <td class="state-${state}">${state}${state === 'joining' ? ` ${joinPercent(node)}` : ''}${node.failure ? ` (${escape(node.failure)})` : ''}</td>
      <td class="mono sp"><span class="swatch" style="background:${spColor(sp?.hex)}"></span>${sp?.hex ?? ''}</td>
      <td class="mono spvv">${sp?.spvvHex ?? ''}</td>
      <td>${sp?.count ?? ''}</td>
      <td>${info?.epoch ?? ''}</td>
      <td>${info?.pending.length ?? ''}</td>
      <td>${info?.tick ?? ''}</td>
      <td>${node.recoveredMs === undefined ? '' : `${node.recoveredMs.toFixed(0)} ms`}</td>
    </tr>`;
  });
  $('nodes').innerHTML =
    `<tr><th>#</th><th>id</th><th>address</th><th>state</th><th>SP</th><th>SPVV</th><th>records</th><th>epoch</th><th>PTL</th><th>tick</th><th>start/recovery</th></tr>` +
    rows.join('');
  const ptl = pool.nodes.flatMap((node) =>
    (node.alive ? (node.status?.info.pending ?? []) : []).map(
      (p) =>
        `<div class="mono ptl-entry">node ${node.index + 1}: ${p.txid} ${p.state} (${p.role}) event ${p.event} → ${escape(p.target)}<br>&nbsp;&nbsp;${p.nodes
          .map((n) => `${n.id}${n.coordinator ? '*' : ''}${n.pendingAck ? ' PA' : ''}`)
          .join(', ')}</div>`,
    ),
  );
  $('ptl').innerHTML = ptl.length ? ptl.join('') : '<span class="hint">empty</span>';
  const events = pool.nodes.flatMap((node) =>
    (node.status?.events ?? []).map((event) => ({ node: node.index, ...event })),
  );
  events.sort((a, b) => b.tick - a.tick);
  $('events').innerHTML = events
    .slice(0, 40)
    .map(
      (event) =>
        `<div class="mono">node ${event.node + 1} t${event.tick} ${escape(event.event)} ${event.txid ?? ''} ${escape(event.detail ?? '')}</div>`,
    )
    .join('');
  const alive = pool.nodes.filter((node) => node.ready);
  const sps = new Set(alive.map((node) => node.status?.info.syncPoint.hex));
  $('summary').textContent =
    `${alive.length}/${pool.nodes.length} ${{ tab: 'appliances running in workers', remote: 'processes answering', replay: 'simulated nodes up' }[pool.kind]} · ${sps.size === 1 ? 'all SPs equal' : `${sps.size} different SPs`}` +
    (pool.kind === 'tab'
      ? ` · admin password ${pool.password}${pool.bootstrapped ? '' : ' (being created)'}`
      : pool.kind === 'remote'
        ? ` · attached to ${params.get('pool')}`
        : ` · replay of seed ${pool.request.seed}, tick ${pool.tick}, ${pool.phase}`);
}

function renderControls(): void {
  controlsDirty = false;
  const node = pool.nodes[selected];
  const state = nodeState(node);
  shownState = state;
  const box = $('nodecontrols');
  box.innerHTML = '';
  const button = (label: string, action: () => void, disabled = false): void => {
    const element = document.createElement('button');
    element.textContent = label;
    element.disabled = disabled;
    element.onclick = action;
    element.id = `ctl-${label.split(' ')[0]}`;
    box.append(element);
  };
  const title = document.createElement('span');
  title.textContent = `node ${selected + 1} (${state}): `;
  box.append(title);
  if (pool.kind === 'replay') {
    const replay = pool;
    title.textContent = `replay of seed ${replay.request.seed} — tick ${replay.tick}, ${replay.phase} `;
    button('events', () => void runConsole(selected, 'events'));
  } else if (pool.kind === 'remote') {
    // Real processes: the console's commands, run on the selected node's remote console.
    for (const command of ['info', 'nodes', 'cross-check', 'live-sync'])
      button(command, () => void runConsole(selected, command), !node.ready);
    button(
      'node-down (from another node’s remote console)',
      () => void nodeDown(selected),
      pool.nodes.every((other) => !other.ready || other.index === selected),
    );
  } else {
    const tab = pool;
    button('kill', () => tab.kill(selected), !node.alive);
    button('restart', () => tab.restart(selected));
    button(
      node.paused ? 'resume' : 'pause',
      () => tab.setPaused(selected, !node.paused),
      !node.alive,
    );
  }
  if (pool.kind === 'tab') {
    const tab = pool;
    button(
      'add node (live-sync)',
      () => {
        try {
          selected = tab.addNode().index;
          controlsDirty = true;
        } catch (error) {
          $('coout').textContent = String(error);
        }
      },
      pool.nodes.length >= TAB_NODES_MAX,
    );
  }
  if (pool.kind === 'tab')
    button(
      'node-down (from another node’s remote console)',
      () => void nodeDown(selected),
      node.alive,
    );
  for (const select of [$<HTMLSelectElement>('cnode'), $<HTMLSelectElement>('conode')]) {
    const value = select.value;
    select.innerHTML = pool.nodes
      .map((n) => `<option value="${n.index}">node ${n.index + 1} (${n.address})</option>`)
      .join('');
    if (value) select.value = value;
  }
}

async function nodeDown(index: number): Promise<void> {
  const console = pool.nodes.find((node) => node.ready && node.index !== index);
  if (!console) return;
  const answer = await pool.console(console.index, `node-down ${pool.nodes[index].id}`);
  $('coout').textContent =
    `node ${console.index + 1}> node-down ${pool.nodes[index].id}\n${answer.text}`;
}

async function runConsole(index: number, line: string): Promise<void> {
  const answer = await pool.console(index, line);
  $('coout').textContent = `node ${index + 1}> ${line}\n${answer.text}`;
}

$('corun').onclick = () =>
  void runConsole(
    Number($<HTMLSelectElement>('conode').value),
    $<HTMLInputElement>('coline').value,
  );

// ---- speed ----

$<HTMLInputElement>('speed').oninput = () => {
  ticksPerSecond = Number($<HTMLInputElement>('speed').value);
  if (pool.kind !== 'remote') pool.setSpeed(ticksPerSecond);
};
$<HTMLInputElement>('stepping').onchange = () => {
  const on = $<HTMLInputElement>('stepping').checked;
  if (pool.kind !== 'remote') pool.setStepping(on);
  $<HTMLButtonElement>('step').disabled = !on;
};
if (pool.kind === 'replay' && params.get('step') === '1') {
  $<HTMLInputElement>('stepping').checked = true;
  $<HTMLButtonElement>('step').disabled = false;
}
$('step').onclick = () => pool.kind !== 'remote' && pool.step(1);
$('newpool').onclick = async () => {
  const count = Number($<HTMLInputElement>('newcount').value);
  if (pool.kind === 'tab') for (const node of pool.nodes) pool.kill(node.index);
  else if (pool.kind === 'remote') pool.close();
  await TabPool.forget();
  location.href = `${location.pathname}?nodes=${count}`;
};

// ---- the client pane ----

interface Call {
  readonly op: string;
  readonly node: number;
  readonly code: number;
  readonly name: string;
  readonly meaning: string;
  readonly result: string;
  readonly ms: number;
}
const calls: Call[] = [];
const sessions = new Map<string, HsmClient>();
$<HTMLInputElement>('cpass').value =
  pool.kind === 'tab' ? pool.password : $<HTMLInputElement>('attachpass').value;
$<HTMLInputElement>('cuser').value =
  pool.kind === 'tab' ? 'admin' : $<HTMLInputElement>('attachuser').value;
if (pool.kind === 'remote') {
  for (const id of ['speed', 'stepping', 'step']) $<HTMLInputElement>(id).disabled = true;
}
let lastSignature: Uint8Array | undefined;

async function clientFor(index: number): Promise<HsmClient> {
  const user = $<HTMLInputElement>('cuser').value;
  const password = $<HTMLInputElement>('cpass').value;
  const key = `${index}/${user}/${password}`;
  let client = sessions.get(key);
  if (!client) {
    client = await HsmClient.connect({
      nodes: [pool.nodes[index].address],
      user,
      password,
      connections: pool.connections,
      retry: { busyRetriesMax: 2 },
      requestTimeoutMs: 10_000,
    });
    sessions.set(key, client);
  }
  return client;
}

/** Failures after which the page opens a new session to that node. */
const SESSION_DROPPING_CODES: ReadonlySet<number> = new Set([
  CODE.NET_FAIL,
  CODE.ACCESS_DENIED,
  CODE.REPLICATION_BUSY,
  CODE.SERVER_BUSY,
]);

async function call(
  op: string,
  index: number,
  run: (client: HsmClient) => Promise<string>,
): Promise<Call> {
  const began = performance.now();
  let entry: Call;
  try {
    const result = await run(await clientFor(index));
    entry = {
      op,
      node: index,
      code: 0,
      name: 'OK',
      meaning: 'Success.',
      result,
      ms: performance.now() - began,
    };
  } catch (error) {
    const failure = error instanceof HsmError ? error : undefined;
    const described = describe(failure?.code ?? CODE.OPERATION_FAILED);
    if (failure && SESSION_DROPPING_CODES.has(failure.code)) {
      for (const [key, client] of sessions)
        if (key.startsWith(`${index}/`)) {
          sessions.delete(key);
          void client.close?.();
        }
    }
    entry = {
      op,
      node: index,
      code: described.code,
      name: described.name,
      meaning: described.meaning,
      result: error instanceof Error ? error.message : String(error),
      ms: performance.now() - began,
    };
  }
  calls.unshift(entry);
  if (calls.length > 50) calls.pop();
  $('calls').innerHTML = calls
    .map(
      (c) =>
        `<div class="call"><b>${c.op}</b> on node ${c.node + 1}: <span class="${c.code === 0 ? 'code0' : 'codeN'}">${c.code} ${c.name}</span> — ${escape(c.meaning)} <span class="hint">(${c.ms.toFixed(0)} ms)</span><br><span class="mono">${escape(c.result)}</span></div>`,
    )
    .join('');
  return entry;
}

const clientNode = (): number => Number($<HTMLSelectElement>('cnode').value);
const keyName = (): string => $<HTMLInputElement>('kname').value;
const message = (): Uint8Array => new TextEncoder().encode($<HTMLInputElement>('msg').value);

const ops = {
  login: (index = clientNode()) => call('login', index, async () => 'logged in'),
  create: (
    index = clientNode(),
    name = keyName(),
    type = $<HTMLSelectElement>('ktype').value as KeyType,
  ) =>
    call('create key', index, async (client) =>
      JSON.stringify(await client.generateKey(name, type)),
    ),
  sign: (index = clientNode(), name = keyName()) =>
    call('sign', index, async (client) => {
      lastSignature = await client.sign(name, message());
      return toHex(lastSignature);
    }),
  verify: (index = clientNode(), name = keyName()) =>
    call('verify', index, async (client) =>
      String(await client.verify(name, message(), lastSignature ?? new Uint8Array(64))),
    ),
  encrypt: (index = clientNode(), name = keyName()) =>
    call('encrypt', index, async (client) => toHex(await client.encrypt(name, message()))),
  list: (index = clientNode()) =>
    call('list keys', index, async (client) => JSON.stringify(await client.listKeys())),
};
$('login').onclick = () => void ops.login();
$('create').onclick = () => void ops.create();
$('sign').onclick = () => void ops.sign();
$('verify').onclick = () => void ops.verify();
$('encrypt').onclick = () => void ops.encrypt();
$('list').onclick = () => void ops.list();

// ---- what the end-to-end tests and the bench drive ----

(globalThis as unknown as Record<string, unknown>).hsmpool = {
  pool,
  ops,
  fps: () => fps,
  select: (index: number) => {
    selected = index;
    controlsDirty = true;
  },
  sps: () =>
    pool.nodes.map((node) =>
      node.ready && node.status
        ? `${node.status.info.syncPoint.hex}/${node.status.info.syncPoint.spvvHex}`
        : null,
    ),
  pending: () =>
    pool.nodes.map((node) => (node.ready ? (node.status?.info.pending.length ?? null) : null)),
  epochs: () => pool.nodes.map((node) => node.status?.info.epoch ?? null),
  bootstrapped: () => pool.bootstrapped,
  load,
  replay: () =>
    pool.kind === 'replay'
      ? {
          phase: pool.phase,
          tick: pool.tick,
          done: pool.result !== undefined,
          ok: pool.result?.ok,
          finalSps: pool.finalSps,
          error: pool.error,
        }
      : undefined,
  records: () => pool.nodes.map((node) => node.status?.info.syncPoint.count ?? null),
};

/** bench:web: `writers` SDK clients (spread over the nodes) create keys for `seconds`; the
 * commits acknowledged, the codes of the failures, and the picture's frames/s each second. */
async function load(
  seconds: number,
  writers: number,
): Promise<{ commits: number; failures: Record<number, number>; fps: number[]; ms: number }> {
  const clients = await Promise.all(
    Array.from({ length: writers }, (_, w) =>
      HsmClient.connect({
        nodes: [pool.nodes[w % pool.nodes.length].address],
        user: 'admin',
        password: pool.password,
        connections: pool.connections,
      }),
    ),
  );
  const fpsSamples: number[] = [];
  const sampler = setInterval(() => fpsSamples.push(fps), 1000);
  const began = performance.now();
  const end = began + seconds * 1000;
  let commits = 0;
  const failures: Record<number, number> = {};
  await Promise.all(
    clients.map(async (client, w) => {
      for (let i = 0; performance.now() < end; i++) {
        try {
          await client.generateKey(`load-${w}-${i}-${Math.round(began)}`, 'hmac-sha256');
          commits++;
        } catch (error) {
          const number = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
          failures[number] = (failures[number] ?? 0) + 1;
        }
      }
    }),
  );
  clearInterval(sampler);
  for (const client of clients) client.close();
  return { commits, failures, fps: fpsSamples, ms: performance.now() - began };
}

requestAnimationFrame(draw);

$('replaygo').onclick = () => {
  const line = $<HTMLInputElement>('replayline').value;
  if (!parseReplay(line)) {
    $<HTMLInputElement>('replayline').value = 'expected --seed S [--nodes K]';
    return;
  }
  location.href = `${location.pathname}?replay=${encodeURIComponent(line)}`;
};
