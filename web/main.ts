// The page: a pool of appliances in Web Workers (tab-pool.ts), real processes (remote-pool.ts)
// or a simulator replay (replay.ts), drawn as a ring with the frames in flight (picture.ts),
// their Sync-Points, PTL and events (panels.ts), the controls (controls.ts) and a client pane
// running the real SDK against them (client-pane.ts). This file boots one and wires them up.

import { CODE, HsmError, describe } from '../host/core/codes.ts';
import { clientPane } from './client-pane.ts';
import { Controls } from './controls.ts';
import { load } from './load.ts';
import { TABLES_MS, renderTables } from './panels.ts';
import { Picture } from './picture.ts';
import { RemotePool } from './remote-pool.ts';
import { ReplayPool, parseReplay } from './replay.ts';
import { TAB_NODES_MAX, TabPool } from './tab-pool.ts';
import { $, nodeState, type ShownPool } from './view.ts';

const params = new URLSearchParams(location.search);

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

async function boot(): Promise<ShownPool> {
  const seed = params.get('pool');
  if (seed) return attach(seed);
  const replay = params.get('replay');
  const request = replay ? parseReplay(replay) : undefined;
  if (request) {
    const module = await WebAssembly.compileStreaming(fetch(new URL('core.wasm', location.href)));
    const replaying = ReplayPool.start(request, module);
    // &step=1: start in single-step mode, at the world's first state.
    if (params.get('step') === '1') replaying.setStepping(true);
    return replaying;
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
const picture = new Picture(pool, $<HTMLCanvasElement>('ring'), $<HTMLCanvasElement>('timeline'));
const controls = new Controls(pool);
let tablesDirty = true;
let tablesAt = 0;

pool.onStatus = () => {
  picture.noteSyncPoints(performance.now());
  tablesDirty = true;
  const selected = pool.nodes[controls.selected];
  if (selected && nodeState(selected) !== controls.shownState) controls.dirty = true;
};
pool.onChange = () => {
  tablesDirty = true;
  controls.dirty = true;
};

function frame(now: number): void {
  // The next frame is asked for first: one exception while drawing must not freeze the page.
  requestAnimationFrame(frame);
  picture.selected = controls.selected;
  if (picture.draw(now)) $('fps').textContent = `${picture.fps.toFixed(0)} frames/s`;
  if (tablesDirty && now - tablesAt >= TABLES_MS) {
    tablesAt = now;
    tablesDirty = false;
    renderTables(pool, params.get('pool'));
  }
  if (controls.dirty) controls.render();
}
requestAnimationFrame(frame);

$('ring').addEventListener('click', (event) => {
  const hit = picture.hit(event.clientX, event.clientY);
  if (hit && 'node' in hit) controls.select(hit.node);
  else if (hit && pool.kind === 'tab') {
    const [a, b] = hit.link;
    pool.setCut(a, b, !pool.isCut(a, b));
  }
});
$('corun').onclick = () =>
  void controls.runConsole(
    Number($<HTMLSelectElement>('conode').value),
    $<HTMLInputElement>('coline').value,
  );
$<HTMLInputElement>('backupin').onchange = () => {
  const file = $<HTMLInputElement>('backupin').files?.[0];
  if (file) void controls.openBackup(file);
};

// ---- speed, single-step, a new pool, a replay ----

$<HTMLInputElement>('speed').oninput = () => {
  picture.ticksPerSecond = Number($<HTMLInputElement>('speed').value);
  if (pool.kind !== 'remote') pool.setSpeed(picture.ticksPerSecond);
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
if (pool.kind === 'remote')
  for (const id of ['speed', 'stepping', 'step']) $<HTMLInputElement>(id).disabled = true;
$('step').onclick = () => pool.kind !== 'remote' && pool.step(1);
$('newpool').onclick = async () => {
  const count = Number($<HTMLInputElement>('newcount').value);
  if (pool.kind === 'tab') for (const node of pool.nodes) pool.kill(node.index);
  else if (pool.kind === 'remote') pool.close();
  await TabPool.forget();
  location.href = `${location.pathname}?nodes=${count}`;
};
$('replaygo').onclick = () => {
  const line = $<HTMLInputElement>('replayline').value;
  if (!parseReplay(line)) {
    $<HTMLInputElement>('replayline').value = 'expected --seed S [--nodes K]';
    return;
  }
  location.href = `${location.pathname}?replay=${encodeURIComponent(line)}`;
};

// ---- the client pane ----

$<HTMLInputElement>('cpass').value =
  pool.kind === 'tab' ? pool.password : $<HTMLInputElement>('attachpass').value;
$<HTMLInputElement>('cuser').value =
  pool.kind === 'tab' ? 'admin' : $<HTMLInputElement>('attachuser').value;
const ops = clientPane(pool);

// ---- what the end-to-end tests and the bench drive ----

(globalThis as unknown as Record<string, unknown>).hsmpool = {
  pool,
  ops,
  controls,
  fps: () => picture.fps,
  /** bench:web: every frame's timestamp from now until stop(). */
  record: () => picture.record(),
  select: (index: number) => controls.select(index),
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
  load: (seconds: number, writers: number) => {
    if (pool.kind !== 'tab') throw new Error('bench:web loads a pool in the tab');
    return load(pool, picture, seconds, writers);
  },
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
