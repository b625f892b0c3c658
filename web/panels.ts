// The dashboard's text: the nodes table (SP/SPVV, epoch, state, PTL size, a joining node's
// progress bar), the pending transactions with their PA marks, the latest replication events
// and the one-line summary. Rebuilt at most TABLES_MS apart (main.ts), never per frame.

import type { TabNode } from './tab-pool.ts';
import { $, escape, nodeState, spColor, type ShownPool } from './view.ts';

/** The tables are rebuilt at most this often (text: four times a second is enough). */
export const TABLES_MS = 250;
/** Replication events listed, the latest first. */
const EVENTS_SHOWN = 40;

/** A joining node's progress bar: records of the pool image received, then catch-up. */
function joinPercent(node: TabNode): string {
  const progress = node.progress!;
  const share = progress.totalRecords > 0 ? progress.records / progress.totalRecords : 0;
  const percent = Math.round(100 * Math.min(1, share));
  return `<progress max="100" value="${percent}"></progress> ${percent}% ${progress.phase} (${progress.records}/${progress.totalRecords} records, ${progress.commits} commits caught up)`;
}

function nodeRow(node: TabNode): string {
  const info = node.status?.info;
  const state = nodeState(node);
  const sp = info?.syncPoint;
  // A dead node's figures are the last it reported, dimmed.
  return `<tr data-node="${node.index}"${node.alive ? '' : ' class="hint" title="last known"'}>
      <td>${node.index + 1}</td>
      <td class="mono">${node.id}</td>
      <td class="mono">${node.address}</td>
      <td class="state-${state}">${state}${state === 'joining' && node.progress ? ` ${joinPercent(node)}` : ''}${node.failure ? ` (${escape(node.failure)})` : ''}</td>
      <td class="mono sp"><span class="swatch" style="background:${spColor(sp?.hex)}"></span>${sp?.hex ?? ''}</td>
      <td class="mono spvv">${sp?.spvvHex ?? ''}</td>
      <td>${sp?.count ?? ''}</td>
      <td>${info?.epoch ?? ''}</td>
      <td>${info?.pending.length ?? ''}</td>
      <td>${info?.tick ?? ''}</td>
      <td>${node.recoveredMs === undefined ? '' : `${node.recoveredMs.toFixed(0)} ms`}</td>
    </tr>`;
}

const NODES_HEADER =
  '<tr><th>#</th><th>id</th><th>address</th><th>state</th><th>SP</th><th>SPVV</th><th>records</th><th>epoch</th><th>PTL</th><th>tick</th><th>start/recovery</th></tr>';

function ptlHtml(pool: ShownPool): string {
  const entries = pool.nodes.flatMap((node) =>
    (node.alive ? (node.status?.info.pending ?? []) : []).map(
      (p) =>
        `<div class="mono ptl-entry">node ${node.index + 1}: ${p.txid} ${p.state} (${p.role}) event ${p.event} → ${escape(p.target)}<br>&nbsp;&nbsp;${p.nodes
          .map((n) => `${n.id}${n.coordinator ? '*' : ''}${n.pendingAck ? ' PA' : ''}`)
          .join(', ')}</div>`,
    ),
  );
  return entries.length ? entries.join('') : '<span class="hint">empty</span>';
}

function eventsHtml(pool: ShownPool): string {
  const events = pool.nodes.flatMap((node) =>
    (node.status?.events ?? []).map((event) => ({ node: node.index, ...event })),
  );
  events.sort((a, b) => b.tick - a.tick);
  return events
    .slice(0, EVENTS_SHOWN)
    .map(
      (event) =>
        `<div class="mono">node ${event.node + 1} t${event.tick} ${escape(event.event)} ${event.txid ?? ''} ${escape(event.detail ?? '')}</div>`,
    )
    .join('');
}

function summary(pool: ShownPool, attachedTo: string | null): string {
  const alive = pool.nodes.filter((node) => node.ready);
  const sps = new Set(alive.map((node) => node.status?.info.syncPoint.hex));
  const running = {
    tab: 'appliances running in workers',
    remote: 'processes answering',
    replay: 'simulated nodes up',
  }[pool.kind];
  const tail =
    pool.kind === 'tab'
      ? ` · admin password ${pool.password}${pool.bootstrapped ? '' : ' (being created)'}`
      : pool.kind === 'remote'
        ? ` · attached to ${attachedTo}`
        : ` · replay of seed ${pool.request.seed}, tick ${pool.tick}, ${pool.phase}`;
  return `${alive.length}/${pool.nodes.length} ${running} · ${sps.size === 1 ? 'all SPs equal' : `${sps.size} different SPs`}${tail}`;
}

/** Rebuilds the nodes table, the PTL, the events and the summary line. */
export function renderTables(pool: ShownPool, attachedTo: string | null): void {
  $('nodes').innerHTML = NODES_HEADER + pool.nodes.map(nodeRow).join('');
  $('ptl').innerHTML = ptlHtml(pool);
  $('events').innerHTML = eventsHtml(pool);
  $('summary').textContent = summary(pool, attachedTo);
}
