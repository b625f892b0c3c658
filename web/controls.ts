// The controls: per selected node (kill / restart / pause in the tab; the console's commands on
// real processes; events in a replay), add a node, node-down from another node's remote
// console, backup and restore, the remote console field, speed and single-step.

import { CODE, HsmError, describe } from '../host/core/codes.ts';
import { downloadLink, fetchBackup, type PageBackup } from './backup.ts';
import { TAB_NODES_MAX, TabPool } from './tab-pool.ts';
import { $, nodeState, type NodeState, type ShownPool } from './view.ts';

type Button = (label: string, action: () => void, disabled?: boolean, id?: string) => void;

export class Controls {
  /** The selected node (the picture draws it, the buttons act on it). */
  selected = 0;
  /** The state the buttons were made for (they are rebuilt when it changes). */
  shownState: NodeState | '' = '';
  dirty = true;
  /** The latest backup made or opened in the page (restore uses it). */
  backup: PageBackup | { bytes: Uint8Array; name: string } | undefined;

  constructor(private readonly pool: ShownPool) {}

  select(index: number): void {
    this.selected = index;
    this.dirty = true;
  }

  /** Rebuilds the buttons for the selected node. */
  render(): void {
    const node = this.pool.nodes[this.selected];
    // A replay's first frames can come before its simulated pool has opened: nothing to show.
    if (!node) return;
    this.dirty = false;
    const state = nodeState(node);
    this.shownState = state;
    const box = $('nodecontrols');
    box.innerHTML = '';
    const title = document.createElement('span');
    title.textContent = `node ${this.selected + 1} (${state}): `;
    box.append(title);
    // Ids (ctl-kill, ctl-add, ctl-node-down, …) are what the tests click.
    const button: Button = (label, action, disabled = false, id = label.split(' ')[0]) => {
      const element = document.createElement('button');
      element.textContent = label;
      element.disabled = disabled;
      element.onclick = action;
      element.id = `ctl-${id}`;
      box.append(element);
    };
    const pool = this.pool;
    if (pool.kind === 'replay') {
      title.textContent = `replay of seed ${pool.request.seed} — tick ${pool.tick}, ${pool.phase} `;
      button('events', () => void this.runConsole(this.selected, 'events'));
    } else if (pool.kind === 'remote') {
      // Real processes: the console's commands, run on the selected node's remote console.
      for (const command of ['info', 'nodes', 'cross-check', 'live-sync'])
        button(command, () => void this.runConsole(this.selected, command), !node.ready);
      const noOther = pool.nodes.every((other) => !other.ready || other.index === this.selected);
      button('node-down (from another node’s remote console)', () => void this.nodeDown(), noOther);
      button('backup', () => void this.makeBackup(), !node.ready);
    } else this.tabButtons(pool, button);
    this.renderNodeLists();
  }

  private tabButtons(tab: TabPool, button: Button): void {
    const index = this.selected;
    const node = tab.nodes[index];
    button('kill', () => tab.kill(index), !node.alive);
    button('restart', () => tab.restart(index));
    button(node.paused ? 'resume' : 'pause', () => tab.setPaused(index, !node.paused), !node.alive);
    button('add node (live-sync)', () => this.addNode(tab), tab.nodes.length >= TAB_NODES_MAX);
    button(
      'node-down (from another node’s remote console)',
      () => void this.nodeDown(),
      node.alive,
    );
    button('backup', () => void this.makeBackup(), !node.ready);
    const everyNode = tab.nodes.map((n) => n.index);
    button('restore node', () => void this.restore(tab, [index]), !this.backup, 'restore-node');
    button('restore pool', () => void this.restore(tab, everyNode), !this.backup, 'restore-pool');
  }

  private addNode(tab: TabPool): void {
    try {
      this.select(tab.addNode().index);
    } catch (error) {
      $('coout').textContent = String(error);
    }
  }

  /** The node lists of the client pane and the remote console field. */
  private renderNodeLists(): void {
    for (const select of [$<HTMLSelectElement>('cnode'), $<HTMLSelectElement>('conode')]) {
      const value = select.value;
      select.innerHTML = this.pool.nodes
        .map((n) => `<option value="${n.index}">node ${n.index + 1} (${n.address})</option>`)
        .join('');
      if (value) select.value = value;
    }
  }

  /** node-down of the selected node, from the remote console of a live other node. */
  async nodeDown(): Promise<void> {
    const target = this.pool.nodes[this.selected];
    const console = this.pool.nodes.find((node) => node.ready && node.index !== target.index);
    if (!console) return;
    const line = `node-down ${target.id}`;
    const answer = await this.pool.console(console.index, line);
    $('coout').textContent = `node ${console.index + 1}> ${line}\n${answer.text}`;
  }

  async runConsole(index: number, line: string): Promise<void> {
    const answer = await this.pool.console(index, line);
    $('coout').textContent = `node ${index + 1}> ${line}\n${answer.text}`;
  }

  /** `backup` on the selected node's remote console; the file is offered as a download. */
  async makeBackup(): Promise<void> {
    const index = this.selected;
    const out = $('coout');
    out.textContent = `node ${index + 1}> backup\n…`;
    try {
      const backup = await fetchBackup((line) => this.pool.console(index, line));
      this.backup = backup;
      const s = backup.started;
      out.textContent = `node ${index + 1}> backup\nbackup of domain ${s.domain} (pool ${s.poolId}): ${backup.bytes.length} bytes, ${s.records} records, SP ${s.sp} SPVV ${s.spvv}\n`;
      out.append(downloadLink(backup));
    } catch (error) {
      out.textContent = `node ${index + 1}> backup\n${failureText(error)}`;
    }
    this.dirty = true;
  }

  /** A backup file chosen in the page (the file input next to the console). */
  async openBackup(file: File): Promise<void> {
    this.backup = { bytes: new Uint8Array(await file.arrayBuffer()), name: file.name };
    $('coout').textContent = `${file.name}: ${file.size} bytes, ready to restore`;
    this.dirty = true;
  }

  /** Restores the latest backup into `indexes` (each stopped, restored, recovered). */
  async restore(tab: TabPool, indexes: number[]): Promise<void> {
    const backup = this.backup;
    if (!backup) return;
    const out = $('coout');
    out.textContent = `restore ${backup.name} into node${indexes.length > 1 ? 's' : ''} ${indexes.map((i) => i + 1).join(', ')}`;
    const answers = await Promise.all(indexes.map((index) => tab.restore(index, backup.bytes)));
    out.textContent += answers.map((a, i) => `\nnode ${indexes[i] + 1}: ${a.text}`).join('');
  }
}

function failureText(error: unknown): string {
  const code = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
  const message = error instanceof Error ? error.message : String(error);
  return `${code} ${describe(code).name}: ${message}`;
}
