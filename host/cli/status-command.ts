// `hsmpool status --host H:P[,H:P...] --user admin`: the manual's initial checks, pool-wide, in
// one command. It logs in to the remote console of the first node that answers, learns the
// members from it, asks every member for its `status` (host/server/console-status.ts), prints one table
// and the four checks of the manual's troubleshooting, in its order (docs/TROUBLESHOOTING.md):
//   1. node cache    every member's cache holds every other member at the address it listens at
//   2. communication every member answers, and each one's connection test reaches every other
//   3. sync point    every member has the same SP and SPVV (none fenced or diverged)
//   4. PTL           no member holds a pending transaction
// Exit 0 only when all four pass; 1 when one fails; 4 when no node could be reached.

import { CODE, describe } from '../core/codes.ts';
import type { NodeStatus } from '../server/console-status.ts';
import { RemoteConsole, readPassword } from './console-command.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface StatusOptions {
  readonly hosts: readonly string[];
  readonly user: string;
  readonly passwordFile?: string;
  readonly json: boolean;
  /** The connection test's timeout on each node, in ms. */
  readonly timeoutMs: number;
}

/** Hosts in one --host list (commas between). */
export const STATUS_HOSTS_MAX = 64;

export interface StatusCheck {
  readonly name: 'node cache' | 'communication' | 'sync point' | 'PTL';
  readonly pass: boolean;
  /** One line per failure found. */
  readonly failures: string[];
  /** What to do, from docs/TROUBLESHOOTING.md. */
  readonly action: string;
}

export interface MemberRow {
  readonly id: string;
  /** The address the membership records. */
  readonly address: string;
  /** This member's status, or why it could not be had. */
  readonly status?: NodeStatus;
  readonly error?: string;
  /** Round-trip time of the CLI's own console request, in ms. */
  readonly rttMs?: number;
}

export interface PoolStatus {
  readonly domain: string;
  readonly members: MemberRow[];
  readonly fenced: string[];
  readonly checks: StatusCheck[];
  readonly ok: boolean;
}

const ACTIONS: Record<StatusCheck['name'], string> = {
  'node cache':
    'on the node named, `nodes add ID HOST:PORT` with the address the other node listens at, then `refresh` (docs/TROUBLESHOOTING.md, check 1)',
  communication:
    'start the node that does not answer (its restart resolves its PTL); check the address, firewall and that both hold the same SVMK; a node that is gone for good: `node-down ID` from a live member (check 2)',
  'sync point':
    'the node whose SP or SPVV differs from the others (or is fenced/diverged) takes the pool image: `live-sync` on its console (check 3)',
  PTL: 'wait: the replication manager resolves it once every participant answers; if a participant is dead, restart it, or declare it down with `node-down ID` (check 4)',
};

/** The four checks over what the members answered. Pure: the tests call it directly. */
export function poolChecks(members: readonly MemberRow[]): StatusCheck[] {
  const answered = members.filter((m) => m.status !== undefined);
  const listenAt = new Map(members.map((m) => [m.id, m.status?.address ?? m.address]));
  const cache: string[] = [];
  const communication: string[] = [];
  for (const m of members) if (!m.status) communication.push(`${m.id} (${m.address}): ${m.error}`);
  for (const a of answered) {
    const entries = new Map(a.status!.cache.map((e) => [e.id, e.address]));
    const tested = new Map(a.status!.crossCheck.map((r) => [r.id, r]));
    for (const b of members) {
      if (b.id === a.id) continue;
      const want = listenAt.get(b.id)!;
      const has = entries.get(b.id);
      if (has === undefined) cache.push(`${a.id}'s cache has no entry for ${b.id} (${want})`);
      else if (has !== want)
        cache.push(`${a.id}'s cache has ${b.id} at ${has}, but it listens at ${want}`);
      const test = tested.get(b.id);
      if (test === undefined) communication.push(`${a.id} -> ${b.id}: not tested (not cached)`);
      else if (test.rttMs === undefined)
        communication.push(
          `${a.id} -> ${b.id} at ${test.address}: FAILED ${describe(test.code ?? CODE.CANNOT_P2P_CONNECT).name} (${test.code ?? CODE.CANNOT_P2P_CONNECT})`,
        );
    }
  }
  const sync: string[] = [];
  const bad = answered.filter((m) => m.status!.state !== 'member');
  for (const m of bad) sync.push(`${m.id} is ${m.status!.state}`);
  const points = new Map<string, string[]>();
  for (const m of answered) {
    const key = `SP ${m.status!.sp} SPVV ${m.status!.spvv}`;
    points.set(key, [...(points.get(key) ?? []), m.id]);
  }
  if (points.size > 1) for (const [key, ids] of points) sync.push(`${key}: ${ids.join(', ')}`);
  const ptl: string[] = [];
  for (const m of answered)
    for (const p of m.status!.pending)
      ptl.push(
        `${m.id}: ${p.txid} ${p.state} (${p.role}), ${(p.ageMs / 1000).toFixed(1)} s old${p.pendingAck.length ? `, PA ${p.pendingAck.join(' ')}` : ''}`,
      );
  const check = (name: StatusCheck['name'], failures: string[]): StatusCheck => ({
    name,
    pass: failures.length === 0,
    failures,
    action: ACTIONS[name],
  });
  return [
    check('node cache', cache),
    check('communication', communication),
    check('sync point', sync),
    check('PTL', ptl),
  ];
}

async function ask(
  host: string,
  user: string,
  password: string,
  timeoutMs: number,
): Promise<{ status?: NodeStatus; error?: string; rttMs?: number }> {
  let remote: RemoteConsole | undefined;
  try {
    remote = await RemoteConsole.open({ host, user }, password, timeoutMs + 10_000);
    const started = performance.now();
    const result = await remote.run(`status ${timeoutMs}`);
    const rttMs = performance.now() - started;
    if (result.code !== 0) return { error: `${result.text}` };
    return { status: result.data as NodeStatus, rttMs };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  } finally {
    remote?.close();
  }
}

export async function poolStatus(
  hosts: readonly string[],
  user: string,
  password: string,
  timeoutMs: number,
): Promise<PoolStatus | undefined> {
  // Every --host is asked: a member that moved answers at the address the operator gives, so
  // the cache check can compare the others' caches with where it really listens.
  const given = await Promise.all(hosts.map((host) => ask(host, user, password, timeoutMs)));
  const first = given.find((answer) => answer.status)?.status;
  if (!first)
    throw new CliError(
      EXIT.UNREACHABLE,
      `no node answered: ${given.map((answer, i) => `${hosts[i]}: ${answer.error}`).join('; ')}`,
    );
  const rows = await Promise.all(
    first.members.map(async (m): Promise<MemberRow> => {
      const known = given.find((answer) => answer.status?.id === m.id);
      const answer = known ?? (await ask(m.address, user, password, timeoutMs));
      return { id: m.id, address: m.address, ...answer };
    }),
  );
  const checks = poolChecks(rows);
  return {
    domain: first.domain,
    members: rows,
    fenced: first.fencedNodes,
    checks,
    ok: checks.every((c) => c.pass),
  };
}

function ageText(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export function renderStatus(pool: PoolStatus): string {
  const lines = [`Pool ${pool.domain}: ${pool.members.length} members`, ...memberTable(pool)];
  if (pool.fenced.length) lines.push(`Declared down: ${pool.fenced.join(', ')}`);
  lines.push('', 'Caches and connection tests (each row: what that node dials, and the test):');
  lines.push(...cacheLines(pool));
  lines.push('', "Checks (the manual's order):");
  pool.checks.forEach((c, i) => {
    lines.push(`  ${i + 1}. ${c.name.padEnd(14)} ${c.pass ? 'PASS' : 'FAIL'}`);
    for (const f of c.failures) lines.push(`       - ${f}`);
    if (!c.pass) lines.push(`       what to do: ${c.action}`);
  });
  return lines.join('\n');
}

/** One row per member, columns aligned. */
function memberTable(pool: PoolStatus): string[] {
  const header = [
    'node',
    'listens at',
    'state',
    'SP',
    'SPVV',
    'epoch',
    'rtt',
    'PTL',
    'sessions',
    'version',
  ];
  const table: string[][] = [header];
  for (const m of pool.members) {
    const s = m.status;
    if (!s) {
      table.push([m.id, m.address, 'UNREACHABLE', '-', '-', '-', '-', '-', '-', '-']);
      continue;
    }
    const ptl = s.pending.length
      ? s.pending
          .map(
            (p) =>
              `${p.state} ${ageText(p.ageMs)}${p.pendingAck.length ? ` PA ${p.pendingAck.join(' ')}` : ''}`,
          )
          .join('; ')
      : 'none';
    table.push([
      s.id,
      s.address,
      s.state,
      s.sp,
      s.spvv,
      String(s.epoch),
      m.rttMs !== undefined ? `${m.rttMs.toFixed(1)} ms` : '-',
      ptl,
      s.sessions === undefined ? '-' : String(s.sessions),
      `${s.version} ${s.mode}`,
    ]);
  }
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

/** What each member's cache dials, with its cross check and what it last heard there. */
function cacheLines(pool: PoolStatus): string[] {
  const lines: string[] = [];
  for (const m of pool.members) {
    if (!m.status) continue;
    const tests = new Map(m.status.crossCheck.map((r) => [r.id, r]));
    const peers = new Map(m.status.peers.map((p) => [p.id, p]));
    for (const e of m.status.cache) {
      const t = tests.get(e.id);
      const p = peers.get(e.id);
      lines.push(
        `  ${m.id} -> ${e.id} at ${e.address.padEnd(21)} ${
          t === undefined
            ? 'untested'
            : t.rttMs !== undefined
              ? `ok ${t.rttMs.toFixed(1)} ms`
              : `FAILED (${t.code})`
        }${p ? `  heard ${ageText(p.seenMsAgo)} ago: SP ${p.sp} SPVV ${p.spvv}` : ''}`,
      );
    }
  }
  return lines;
}

export async function runStatus(options: StatusOptions): Promise<number> {
  if (options.hosts.length === 0 || options.hosts.length > STATUS_HOSTS_MAX)
    throw new CliError(EXIT.USAGE, `status: --host takes 1 to ${STATUS_HOSTS_MAX} addresses`);
  const password = await readPassword(options);
  const pool = (await poolStatus(options.hosts, options.user, password, options.timeoutMs))!;
  if (options.json) console.log(JSON.stringify({ event: 'status', ...pool }));
  else console.log(renderStatus(pool));
  return pool.ok ? EXIT.OK : EXIT.FAILED;
}
