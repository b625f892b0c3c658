// Invariants checked over the durable logs and the live replicas.

import { batchRequestIdsHex } from '../core/batch.ts';
import type { LogRecord } from '../protocol/types.ts';
import type { SimNode, World } from './world.ts';

interface Commits {
  readonly txids: string[];
  readonly sps: string[];
}

function commitsOf(log: readonly LogRecord[]): Commits {
  const txids: string[] = [];
  const sps: string[] = [];
  for (const record of log) {
    if (record.type === 'commit') {
      txids.push(record.txid);
      sps.push(record.sp);
    }
  }
  return { txids, sps };
}

/** Nodes that are members at the end: not fenced, not left dead. */
export function liveMembers(world: World): SimNode[] {
  return world.nodes.filter((node) => !node.staysDead && node.replica && !node.replica.fenced);
}

/** Safety: checked at any time. Returns the violations found. */
export function checkSafety(world: World): string[] {
  const problems: string[] = [];
  // An abort on a node that was fenced is exempt: a coordinator fenced without knowing it may
  // abort what the survivors then commit by termination (docs/PROTOCOL.md); its state is
  // discarded by live-sync and its clients got a retryable code. Nothing else is exempt.
  const fencedAtEnd = (id: string): boolean => world.nodes.some((n) => n.replica?.membership.isFenced(id) && !n.replica.fenced);
  const committed = new Map<string, string>();
  const aborted = new Map<string, string>();
  for (const node of world.nodes) {
    for (const record of node.log) {
      if (record.type === 'commit') committed.set(record.txid, node.id);
      if (record.type === 'abort' && !fencedAtEnd(node.id)) aborted.set(record.txid, node.id);
    }
  }
  for (const [txid, where] of committed) {
    if (aborted.has(txid)) problems.push(`transaction ${txid} committed on ${where} and aborted on ${aborted.get(txid)}`);
  }
  const histories = world.nodes.map((node) => ({ node, commits: commitsOf(node.log) }));
  for (const a of histories) {
    for (const b of histories) {
      if (a.node.id >= b.node.id) continue;
      const n = Math.min(a.commits.txids.length, b.commits.txids.length);
      for (let i = 0; i < n; i++) {
        if (a.commits.txids[i] !== b.commits.txids[i]) {
          problems.push(`histories of ${a.node.id} and ${b.node.id} differ at commit #${i}: ${a.commits.txids[i]} vs ${b.commits.txids[i]}`);
          break;
        }
        if (a.commits.sps[i] !== b.commits.sps[i]) {
          problems.push(`commit #${i} gives SP ${a.commits.sps[i]} on ${a.node.id} but ${b.commits.sps[i]} on ${b.node.id}`);
          break;
        }
      }
    }
  }
  problems.push(...checkNoDuplicateWrites(world));
  for (const node of world.nodes) {
    if (node.fencedAtLog !== undefined && node.log.slice(node.fencedAtLog).some((r) => r.type === 'commit')) {
      problems.push(`fenced node ${node.id} committed after it learned it was fenced`);
    }
    if (node.replica?.diverged) problems.push(`node ${node.id} diverged: a commit gave another SP than its coordinator's`);
  }
  return problems;
}

/** Liveness reached: live members hold no PTL, agree on SP and membership, nothing queued. */
export function converged(world: World): boolean {
  const members = liveMembers(world);
  if (members.length === 0) return true;
  const first = members[0].replica!;
  const sp = first.core.syncPoint().hex;
  const digest = first.membership.digest();
  const everyoneUp = world.nodes.every((node) => node.replica || node.staysDead || (node.fencedAtLog !== undefined));
  const answered = [...world.writes.values()].every((write) => write.code !== undefined);
  return everyoneUp && answered && members.every((node) => {
    const replica = node.replica!;
    return replica.transactions.size === 0 && replica.queue.length === 0 && replica.probes.size === 0
      && replica.core.syncPoint().hex === sp && replica.membership.digest() === digest
      && world.nodes.filter((n) => n.staysDead).every((dead) => replica.membership.isFenced(dead.id));
  });
}

/** At the end: every acknowledged write is in every live member's history; SPs recompute. */
export function checkFinal(world: World): string[] {
  const problems: string[] = [];
  const members = liveMembers(world);
  for (const node of members) {
    const { txids } = commitsOf(node.log);
    const have = new Set(txids);
    for (const write of world.writes.values()) {
      if (write.code === 0 && write.txid && !have.has(write.txid)) {
        problems.push(`acknowledged write ${write.requestId.slice(0, 8)} (${write.op} ${write.name}, tx ${write.txid}) missing on ${node.id}`);
      }
    }
    const check = node.replica!.core.recompute();
    if (!check.consistent) problems.push(`node ${node.id}: incremental SP differs from the SP recomputed from scratch`);
  }
  return problems;
}

/** A client write (its request id) is carried by at most one committed transaction: a retry
 * must get the original outcome, never run twice. */
function checkNoDuplicateWrites(world: World): string[] {
  const carriedBy = new Map<string, string>();
  const problems: string[] = [];
  for (const node of world.nodes) {
    const batches = new Map<string, Uint8Array>();
    for (const record of node.log) {
      if (record.type === 'prepare') batches.set(record.tx.txid, record.tx.batch);
      if (record.type !== 'commit') continue;
      for (const key of batchRequestIdsHex(batches.get(record.txid)!)) {
        if (!key) continue;
        const previous = carriedBy.get(key);
        if (previous && previous !== record.txid) problems.push(`write ${key.slice(0, 8)} committed twice: in ${previous} and ${record.txid}`);
        carriedBy.set(key, record.txid);
      }
    }
  }
  return problems;
}
