// The console command set, shared by the remote console (`hsmpool console`) and the local
// console (a node's own terminal). It mirrors the appliance's replication menu: Info,
// Nodes (add/remove), Refresh, Cross Check, Notify Node Down (remote only), plus planned
// removal (local only) and a support bundle. Pure over an Appliance: no I/O of its own.
// docs/CONSOLE.md documents every command and its output.

import { TICK_MS, type Appliance, type ReplicationInfo } from '../appliance/appliance.ts';
import { DISCOVERY_PULSE_TICKS } from '../appliance/discovery.ts';
import { NodeCache } from '../appliance/node-cache.ts';
import { EVENT_TYPES } from '../core/batch.ts';
import { CODE, HsmError, describe } from '../core/codes.ts';
import { backupPiece, startBackup, type BackupContext } from './backup-transfer.ts';
import type { LiveSyncSummary } from '../appliance/node-host.ts';
import { nodesAsJson, nodeStatus } from './console-status.ts';
import { HSMPOOL_VERSION, OPERATING_MODE } from '../core/version.ts';
import { syncPointHex } from '../core/core.ts';
import { ID64_PATTERN, isNodeId, type NodeId } from '../wire/ids.ts';

export type ConsoleKind = 'local' | 'remote';

/** What some commands need beyond the appliance; a command without its part is refused. */
export interface ConsoleContext {
  /** `backup`: the SVMK the backup key derives from (the remote console's). */
  readonly backup?: BackupContext;
  /** `live-sync`: replaces this node's state with the pool image (NodeHost.liveSync). */
  readonly liveSync?: (target?: string) => Promise<LiveSyncSummary>;
  /** `unlock USER` (local console only): clears the user's failed-login count (Service.unlockFromConsole). */
  readonly unlockUser?: (name: string) => Promise<void>;
  /** `status`: the open client and console sessions of this node's service. */
  readonly sessions?: () => number;
  /** `audit [N]`: the last N entries of this node's audit log and whether its chain verifies. */
  readonly audit?: (n: number) => unknown;
}

import type { ConsoleResult } from '../wire/messages.ts';

/** Command lines longer than this are refused. */
export const COMMAND_LENGTH_MAX = 1024;

const EVENT_NAMES = new Map<number, string>(
  Object.entries(EVENT_TYPES).map(([name, number]) => [number, name]),
);

export const HELP_TEXT = `Replication menu
  info                         domain, Sync-Point and SPVV, timers, node list, pending transaction
  nodes                        the node cache and the pool's members
  nodes add ID HOST:PORT       add a node to the node cache
  nodes remove ID              remove a node that is not a member from the node cache
  refresh                      re-register every cached address with the transport, then info
  cross-check [TIMEOUT_MS]     connection test to every cached node, with round-trip times
                               (fails, 37004, when a node does not answer)
  audit [N]                    the last N (default 100) entries of this node's audit log, chain checked
  status [TIMEOUT_MS]          this node's view for hsmpool status: cache, peers, cross-check, PTL (JSON)
  node-down ID|HOST:PORT       declare a dead node down (remote console only)
  remove-node                  planned removal of THIS node from the pool (local console only)
  debug                        support bundle: events, PTL, SP history, node cache, timers
  backup [ID INDEX]            encrypted backup of the pool state, fetched in pieces (remote console; hsmpool backup)
  live-sync [ID|HOST:PORT]     replace THIS node's state with the pool image from a member (default: the
                               first member that answers); the pool keeps running
  unlock USER                  clear USER's failed-login lock (local console only: the recovery of a
                               locked-out administrator)
  help                         this text`;

/** Data as JSON can carry it (64-bit values become decimal strings). */
function jsonSafe(data: unknown): unknown {
  return JSON.parse(
    JSON.stringify(data, (_key, value) => (typeof value === 'bigint' ? value.toString() : value)),
  );
}

function ok(data: unknown, text: string): ConsoleResult {
  return { code: 0, data: jsonSafe(data), text };
}

function failure(code: number, detail?: string): ConsoleResult {
  const entry = describe(code);
  const message = `${entry.name} (${code}): ${detail ?? entry.meaning}`;
  return {
    code,
    data: { code, name: entry.name, message },
    text: `error: ${message}\n  what to do: ${entry.action}`,
  };
}

/** Splits a command line into words (no quoting: nothing the console takes has spaces). */
export function words(line: string): string[] {
  return line
    .trim()
    .split(/\s+/)
    .filter((word) => word.length > 0);
}

export async function runCommand(
  appliance: Appliance,
  kind: ConsoleKind,
  line: string,
  context: ConsoleContext = {},
): Promise<ConsoleResult> {
  if (line.length > COMMAND_LENGTH_MAX)
    return failure(CODE.CONSOLE_USAGE, `command longer than ${COMMAND_LENGTH_MAX} characters`);
  const [command = 'help', ...args] = words(line);
  try {
    switch (command) {
      case 'help':
        return ok({ help: HELP_TEXT }, HELP_TEXT);
      case 'info':
        return info(appliance);
      case 'nodes':
        return await nodes(appliance, args);
      case 'refresh':
        return refresh(appliance);
      case 'cross-check':
        return await crossCheck(appliance, args);
      case 'audit': {
        if (!context.audit) return failure(CODE.CONSOLE_NOT_HERE, 'this console has no audit log');
        const n = args[0] === undefined ? 100 : Number(args[0]);
        if (!Number.isInteger(n) || n < 1 || n > 10_000)
          return failure(CODE.CONSOLE_USAGE, 'audit N: 1 to 10000');
        const audit = context.audit(n);
        return ok(audit, JSON.stringify(audit, null, 2));
      }
      case 'status': {
        const timeout = args[0] === undefined ? 2000 : Number(args[0]);
        if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60_000)
          return failure(CODE.CONSOLE_USAGE, 'status TIMEOUT_MS: 1 to 60000');
        const status = await nodeStatus(appliance, {
          sessions: context.sessions?.(),
          crossCheckTimeoutMs: timeout,
        });
        return ok(status, JSON.stringify(status, null, 2));
      }
      case 'node-down':
        return await nodeDown(appliance, kind, args);
      case 'remove-node':
        return await removeNode(appliance, kind);
      case 'debug':
        return ok(supportBundle(appliance), JSON.stringify(supportBundle(appliance), null, 2));
      case 'backup':
        return backupCommand(appliance, context.backup, args);
      case 'live-sync':
        return await liveSyncCommand(context, args);
      case 'unlock':
        return await unlockCommand(kind, context, args);
      default:
        return failure(CODE.CONSOLE_USAGE, `unknown command ${JSON.stringify(command)} (try help)`);
    }
  } catch (error) {
    if (error instanceof HsmError) return failure(error.code, error.message);
    throw error;
  }
}

/** The recovery path of a locked-out (sole) administrator: it needs the node's terminal. */
async function unlockCommand(
  kind: ConsoleKind,
  context: ConsoleContext,
  args: string[],
): Promise<ConsoleResult> {
  if (kind !== 'local')
    return failure(
      CODE.LOCAL_CONSOLE_ONLY,
      'unlock runs on the local console; remotely, an administrator uses user.unlock',
    );
  if (args.length !== 1) return failure(CODE.CONSOLE_USAGE, 'usage: unlock USER');
  if (!context.unlockUser)
    return failure(CODE.CONSOLE_NOT_HERE, 'unlock is not available on this console');
  await context.unlockUser(args[0]);
  return ok({ unlocked: args[0] }, `user ${args[0]} unlocked`);
}

function info(appliance: Appliance): ConsoleResult {
  const data = appliance.info();
  return ok({ ...data, nodes: nodesAsJson(data.nodes) }, renderInfo(data, Date.now()));
}

export function renderInfo(info: ReplicationInfo, nowMs: number): string {
  const lines = [
    `Domain ............ ${info.domain}`,
    `Interface binding . ${info.address}  (node ${info.id})`,
    `Version ........... hsmpool ${HSMPOOL_VERSION}, mode ${OPERATING_MODE}`,
    `Sync Point ........ ${info.syncPoint.hex}  SPVV ${info.syncPoint.spvvHex}  (${info.syncPoint.count} records, epoch ${info.epoch})`,
  ];
  if (info.fenced)
    lines.push('State ............. FENCED: declared down; bring it back with live-sync');
  if (info.diverged)
    lines.push(
      'State ............. DIVERGED: a commit gave another SP than its coordinator; live-sync this node',
    );
  if (info.storage.broken)
    lines.push(`State ............. STOPPED: storage failed (${info.storage.broken})`);
  const t = info.timers;
  lines.push(
    `Timers ............ tick ${t.tickMs} ms; manager pulse ${t.managerPulseTicks} ticks; recovery pulse ${t.inDoubtTicks} ticks;`,
    `                    node-down probe ${t.probeTimeoutTicks} ticks`,
    info.discovery
      ? `Discovery ......... on: ${info.discovery.addresses} addresses every ${DISCOVERY_PULSE_TICKS} ticks, ${Object.keys(info.discovery.found).length} nodes answer; auto live-sync ${info.discovery.autoLiveSync ? 'on' : 'off'}`
      : 'Discovery ......... off (node cache filled by hand and from the membership)',
    'Nodes:',
  );
  for (const node of info.nodes) {
    const role = node.self
      ? 'self'
      : node.fenced
        ? 'DOWN (fenced)'
        : node.member
          ? 'member'
          : 'cached';
    const peer =
      node.peer && !node.self
        ? `  SP ${node.peer.sp === undefined ? '?' : syncPointHex(node.peer.sp)} seen ${(((info.tick - node.peer.tick) * TICK_MS) / 1000).toFixed(1)} s ago${node.peer.notSynced ? '  NOT SYNCED' : ''}`
        : '';
    const moved =
      node.memberAddress && node.memberAddress !== node.address
        ? `  (membership: ${node.memberAddress})`
        : '';
    lines.push(
      `  ${node.self ? '*' : ' '} ${node.id}  ${node.address.padEnd(21)} ${role}${peer}${moved}`,
    );
  }
  if (info.pending.length === 0) lines.push('Pending transaction: none');
  for (const p of info.pending) {
    // The time this node logged it, when this process did; else back-computed from ticks.
    const at = p.loggedAt ?? nowMs - (info.tick - p.tick) * TICK_MS;
    lines.push(
      'Pending transaction:',
      `  now ............. ${new Date(nowMs).toISOString()}`,
      `  date/time ....... ${new Date(at).toISOString()}  (${((nowMs - at) / 1000).toFixed(1)} s ago)`,
      `  GUID ............ ${p.txid}`,
      `  state ........... ${p.state}${p.stateNumber ? ` (${p.stateNumber})` : ''}, this node is ${p.role}`,
      `  type ............ ${EVENT_NAMES.get(p.event) ?? 'EVENT'} (${p.event})`,
      `  source user ..... ${p.sourceUser || '-'}`,
      `  target .......... ${p.target || '-'}`,
      `  nodes ........... ${p.nodes.map((n) => `${n.address}${n.coordinator ? ' (coordinator)' : ''}${n.pendingAck ? ' PA' : ''}`).join(', ')}`,
    );
  }
  if (info.queuedWrites > 0) lines.push(`Queued writes ..... ${info.queuedWrites}`);
  return lines.join('\n');
}

async function nodes(appliance: Appliance, args: string[]): Promise<ConsoleResult> {
  const [action, ...rest] = args;
  if (action === undefined) {
    const list = appliance.info().nodes;
    return ok(
      list,
      list
        .map(
          (n) =>
            `${n.id}  ${n.address.padEnd(21)} ${n.self ? 'self' : n.fenced ? 'down' : n.member ? 'member' : 'cached'}`,
        )
        .join('\n'),
    );
  }
  if (action === 'add') {
    const [id, address] = rest;
    if (!id || !isNodeId(id) || !address)
      return failure(
        CODE.CONSOLE_USAGE,
        "usage: nodes add ID HOST:PORT (ID: 16 hex digits, shown by that node's info)",
      );
    NodeCache.checkAddress(address);
    await appliance.addNode(id, address);
    return ok({ added: { id, address } }, `added ${id} at ${address} to the node cache`);
  }
  if (action === 'remove') {
    const [id] = rest;
    if (!id || !isNodeId(id))
      return failure(CODE.CONSOLE_USAGE, 'usage: nodes remove ID (ID: 16 hex digits)');
    await appliance.removeNode(id);
    return ok({ removed: id }, `removed ${id} from the node cache`);
  }
  return failure(CODE.CONSOLE_USAGE, `usage: nodes [add ID HOST:PORT | remove ID]`);
}

function refresh(appliance: Appliance): ConsoleResult {
  appliance.refreshPeers();
  return info(appliance);
}

async function crossCheck(appliance: Appliance, args: string[]): Promise<ConsoleResult> {
  const timeout = args[0] === undefined ? 2000 : Number(args[0]);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60_000)
    return failure(CODE.CONSOLE_USAGE, 'cross-check TIMEOUT_MS: 1 to 60000');
  const results = await appliance.crossCheck(timeout);
  const failed = results.filter((r) => r.rttMs === undefined);
  const text =
    results.length === 0
      ? 'no cached nodes'
      : results
          .map(
            (r) =>
              `${r.id}  ${r.address.padEnd(21)} ${r.rttMs !== undefined ? `ok  ${r.rttMs.toFixed(1)} ms` : `FAILED  ${describe(r.code ?? CODE.NET_FAIL).name} (${r.code})`}`,
          )
          .join('\n');
  // Any node that did not answer fails the command (exit 1 from hsmpool console).
  if (failed.length > 0)
    return {
      code: CODE.CANNOT_P2P_CONNECT,
      data: jsonSafe(results),
      text: `${text}\n${failed.length} of ${results.length} cached nodes did not answer (37004)`,
    };
  return ok(results, text);
}

/** A node named by id or by its address. */
function resolveNode(appliance: Appliance, name: string): NodeId | undefined {
  const nodes = appliance.info().nodes;
  return nodes.find((n) => n.id === name)?.id ?? nodes.find((n) => n.address === name)?.id;
}

async function nodeDown(
  appliance: Appliance,
  kind: ConsoleKind,
  args: string[],
): Promise<ConsoleResult> {
  if (kind !== 'remote')
    return failure(
      CODE.CONSOLE_NOT_HERE,
      'node-down is issued from the remote console only (hsmpool console --host H:P)',
    );
  const id = args[0] && resolveNode(appliance, args[0]);
  if (!id)
    return failure(
      CODE.CANNOT_OPEN_OBJ,
      `no node ${JSON.stringify(args[0] ?? '')} in this node's list`,
    );
  const reply = await appliance.nodeDown(id);
  if (reply.code !== 0) return failure(reply.code);
  return ok(
    { down: id },
    `node ${id} declared down: it is fenced, and pending transactions that waited on it are being resolved`,
  );
}

async function removeNode(appliance: Appliance, kind: ConsoleKind): Promise<ConsoleResult> {
  if (kind !== 'local')
    return failure(CODE.CONSOLE_NOT_HERE, "planned removal is done from the node's local console");
  const reply = await appliance.leave();
  if (reply.code !== 0) return failure(reply.code);
  return ok(
    { removed: appliance.id },
    `this node (${appliance.id}) left the pool; it may come back only by live-sync`,
  );
}

/** What support needs to see — never key material, password verifiers or the SVMK. */
export function supportBundle(appliance: Appliance): unknown {
  const info = appliance.info();
  return {
    generatedAt: new Date().toISOString(),
    node: {
      id: info.id,
      address: info.address,
      domain: info.domain,
      epoch: info.epoch,
      fenced: info.fenced,
      diverged: info.diverged,
      storage: info.storage,
    },
    syncPoint: {
      sp: info.syncPoint.hex,
      spvv: info.syncPoint.spvvHex,
      records: info.syncPoint.count,
    },
    pendingTransactions: info.pending,
    recentEvents: appliance.events,
    syncPointHistory: appliance.spHistory,
    nodeCache: appliance.cache.entries().map(([id, address]) => ({ id, address })),
    nodes: nodesAsJson(info.nodes),
    timers: info.timers,
    queuedWrites: info.queuedWrites,
  };
}

function backupCommand(
  appliance: Appliance,
  context: BackupContext | undefined,
  args: readonly string[],
): ConsoleResult {
  if (!context)
    return failure(CODE.CONSOLE_NOT_HERE, 'backup runs on the remote console (hsmpool backup)');
  if (args.length === 0) {
    const started = startBackup(appliance, context);
    return ok(
      started,
      `backup ${started.id}: SP ${started.sp} SPVV ${started.spvv}, ${started.records} records; piece 0${started.last ? ` (the only one, ${started.bytes} bytes)` : ', ask for the next with backup ID INDEX'}`,
    );
  }
  if (args.length !== 2 || !ID64_PATTERN.test(args[0]) || !/^\d{1,9}$/.test(args[1]))
    return failure(CODE.CONSOLE_USAGE, 'usage: backup [ID INDEX]');
  const piece = backupPiece(appliance, context, args[0], Number(args[1]));
  // Not through ok(): a piece is JSON-safe as it is (strings, numbers, booleans), and
  // jsonSafe's stringify and parse of its 700 kB of base64 took 7 % of a node's CPU during
  // a 1M-key backup (bench:live-sync --processes, profiled).
  return {
    code: 0,
    data: piece,
    text: `backup ${piece.id}: piece ${piece.index}${piece.last ? ` (the last; ${piece.bytes} bytes)` : ''}`,
  };
}

/** ID, HOST:PORT or ID@HOST:PORT: the donor a live-sync asks for. */
function isDonorName(text: string): boolean {
  const at = text.indexOf('@');
  if (at < 0) return isNodeId(text) || /^[^\s@]+:\d{1,5}$/.test(text);
  return isNodeId(text.slice(0, at)) && /^[^\s@]+:\d{1,5}$/.test(text.slice(at + 1));
}

async function liveSyncCommand(
  context: ConsoleContext,
  args: readonly string[],
): Promise<ConsoleResult> {
  if (!context.liveSync)
    return failure(
      CODE.CONSOLE_NOT_HERE,
      "live-sync runs on a node's own console (local, or remote to that node)",
    );
  if (args.length > 1 || (args[0] !== undefined && !isDonorName(args[0]))) {
    return failure(CODE.CONSOLE_USAGE, 'usage: live-sync [ID | HOST:PORT | ID@HOST:PORT]');
  }
  const done = await context.liveSync(args[0]);
  const renamed =
    done.id !== done.previousId
      ? `; node ${done.previousId} was declared down, this node is now ${done.id}`
      : '';
  return ok(
    done,
    `live-sync from ${done.donor.id} at ${done.donor.address}: SP ${done.sp} SPVV ${done.spvv}, ${done.records} records, ` +
      `${(done.bytes / 1e6).toFixed(1)} MB, ${done.transactions} transactions caught up, ${done.ms} ms${renamed}`,
  );
}
