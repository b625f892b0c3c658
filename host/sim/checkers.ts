// Invariants checked over the durable logs and the live replicas.

// A node that joined by live-sync has, before its own log, the history its donor had when it
// queued DONE (history.ts), so every check below covers it as it covers a founder: its
// positions line up with the others', an acknowledged write must be in its history, and its
// SP must end equal to the others' (a transaction it missed would show there).

import { batchRequestIdsHex } from '../core/batch.ts';
import { writeOutcome } from '../core/codes.ts';
import { syncPointHex } from '../core/core.ts';
import { OUTCOME_NONE } from '../protocol/replica.ts';
import { historyOf, type Attempt } from './history.ts';
import type { SimNode, World } from './world.ts';
import type { NodeId } from '../protocol/types.ts';

/** Nodes that are members at the end: not fenced, not left dead. */
export function liveMembers(world: World): SimNode[] {
  return world.nodes.filter((node) => !node.staysDead && node.replica && !node.replica.fenced);
}

/** Safety: checked at any time. Returns the violations found. */
/** `midRun`: checked between ticks, with nodes possibly down (see checkNotCommittedAnswers). */
export function checkSafety(world: World, midRun = false): string[] {
  const problems: string[] = [...world.problems];
  // An abort on a node that was fenced is exempt: a coordinator fenced without knowing it may
  // abort what the survivors then commit by termination (docs/PROTOCOL.md); its state is
  // discarded by live-sync and its clients got a retryable code. Nothing else is exempt.
  const fencedAtEnd = (id: NodeId): boolean =>
    world.nodes.some((n) => n.replica?.membership.isFenced(id) && !n.replica.fenced);
  const committed = new Map<string, string>();
  const aborted = new Map<string, string>();
  for (const node of world.nodes) {
    for (const record of node.log) {
      if (record.type === 'commit') committed.set(record.txid, node.id);
      if (record.type === 'abort' && !fencedAtEnd(node.id)) aborted.set(record.txid, node.id);
    }
  }
  for (const [txid, where] of committed) {
    if (aborted.has(txid))
      problems.push(
        `transaction ${txid} committed on ${where} and aborted on ${aborted.get(txid)}`,
      );
  }
  const histories = world.nodes.map((node) => ({ node, commits: historyOf(node) }));
  for (const a of histories) {
    for (const b of histories) {
      if (a.node.id >= b.node.id) continue;
      const n = Math.min(a.commits.txids.length, b.commits.txids.length);
      for (let i = 0; i < n; i++) {
        if (a.commits.txids[i] !== b.commits.txids[i]) {
          problems.push(
            `histories of ${a.node.id} and ${b.node.id} differ at commit #${i}: ${a.commits.txids[i]} vs ${b.commits.txids[i]}`,
          );
          break;
        }
        if (a.commits.sps[i] !== b.commits.sps[i]) {
          problems.push(
            `commit #${i} gives SP ${syncPointHex(a.commits.sps[i])} on ${a.node.id} but ${syncPointHex(b.commits.sps[i])} on ${b.node.id}`,
          );
          break;
        }
      }
    }
  }
  const carriedBy = carriers(world);
  problems.push(...checkNoDuplicateWrites(carriedBy));
  problems.push(...checkNotCommittedAnswers(world, carriedBy, midRun));
  for (const node of world.nodes) {
    // Where its log says it learned it: the node-down record naming itself (fencing always
    // logs one), not when the host noticed the flag: a pipelined Ready may still hold, before
    // that record, a commit decided before the fence. A node that reopened fenced after a
    // checkpoint dropped that record: from where it reopened.
    const downAt = node.log.findIndex((r) => r.type === 'node-down' && r.node === node.id);
    const fencedAt = downAt >= 0 ? downAt : node.fencedAtLog;
    if (fencedAt !== undefined && node.log.slice(fencedAt).some((r) => r.type === 'commit')) {
      problems.push(`fenced node ${node.id} committed after it learned it was fenced`);
    }
    if (node.replica?.diverged)
      problems.push(`node ${node.id} diverged: a commit gave another SP than its coordinator's`);
    // The joiner's state at DONE is the state after the last transaction it inherited.
    const lastSp = node.inherited.sps.at(-1);
    if (node.joinedAtSp !== undefined && lastSp !== undefined && lastSp !== node.joinedAtSp) {
      problems.push(
        `node ${node.id} joined at SP ${syncPointHex(node.joinedAtSp)}, but its donor's history ends at ${syncPointHex(lastSp)}`,
      );
    }
  }
  return problems;
}

/** Liveness reached: live members hold no PTL, agree on SP and membership, nothing queued. */
export function converged(world: World): boolean {
  const members = liveMembers(world);
  if (members.length === 0) return true;
  const first = members[0].replica!;
  const sp = first.core.syncPoint().sp;
  const digest = first.membership.digest();
  const everyoneUp = world.nodes.every(
    (node) => node.replica || node.staysDead || node.fencedAtLog !== undefined,
  );
  const answered = [...world.writes.values()].every((write) => write.code !== undefined);
  // A joiner keeps retrying until it is in: one the pool added votes on every write.
  const joined = world.joins.unfinished().length === 0;
  return (
    everyoneUp &&
    answered &&
    joined &&
    members.every((node) => {
      const replica = node.replica!;
      return (
        replica.transactions.size === 0 &&
        replica.queue.length === 0 &&
        replica.forwarded.size === 0 &&
        replica.relayTo.size === 0 &&
        replica.probes.size === 0 &&
        replica.core.syncPoint().sp === sp &&
        replica.membership.digest() === digest &&
        world.nodes.filter((n) => n.staysDead).every((dead) => replica.membership.isFenced(dead.id))
      );
    })
  );
}

/** At the end: every acknowledged write is in every live member's history; SPs recompute. */
export function checkFinal(world: World): string[] {
  const problems: string[] = [];
  const members = liveMembers(world);
  const carriedBy = carriers(world);
  for (const node of members) {
    const { txids } = historyOf(node);
    const have = new Set(txids);
    for (const write of world.writes.values()) {
      if (write.code === 0 && write.txid && !have.has(write.txid)) {
        problems.push(
          `acknowledged write ${write.requestId.slice(0, 8)} (${write.op} ${write.name}, tx ${write.txid}) missing on ${node.id}`,
        );
      }
    }
    problems.push(...checkOutcomesResolved(world, node, carriedBy));
    const check = node.replica!.core.recompute();
    if (!check.consistent)
      problems.push(`node ${node.id}: incremental SP differs from the SP recomputed from scratch`);
  }
  return problems;
}

/** The committed transactions carrying each client write (request id), with their coordinators. */
function carriers(world: World): Map<string, Map<string, string>> {
  const carriedBy = new Map<string, Map<string, string>>();
  for (const node of world.nodes) {
    const prepared = new Map<string, { batch: Uint8Array; coordinator: string }>();
    for (const record of node.log) {
      if (record.type === 'prepare')
        prepared.set(record.tx.txid, {
          batch: record.tx.batch,
          coordinator: record.tx.coordinator,
        });
      if (record.type !== 'commit') continue;
      const tx = prepared.get(record.txid)!;
      for (const key of batchRequestIdsHex(tx.batch)) {
        if (!key) continue;
        if (!carriedBy.has(key)) carriedBy.set(key, new Map());
        carriedBy.get(key)!.set(record.txid, tx.coordinator);
      }
    }
  }
  return carriedBy;
}

/**
 * A write run twice because a joined node was restarted: the shape the simulator found when a
 * joiner kept the write outcomes it received in memory only (seed 2226). They are kept
 * durably now (host/log/request-outcomes.ts), so this is a failure like any other
 * duplicate; the count stays in the figures and must be 0. Exactly that shape: two
 * transactions, the first in the node's inherited history, the second coordinated by it after
 * a crash.
 */
function rerunAfterJoinerRestart(world: World, txids: Map<string, string>): boolean {
  if (txids.size !== 2) return false;
  const pair = [...txids];
  return pair.some(([first], i) => {
    const [second, coordinator] = pair[1 - i];
    const joined = world.nodes.find((node) => node.id === coordinator);
    return (
      joined !== undefined &&
      joined.logBase > 0 &&
      joined.crashes > 0 &&
      joined.inherited.txids.includes(first) &&
      !joined.inherited.txids.includes(second)
    );
  });
}

/** Writes run twice after a joined node's restart (see rerunAfterJoinerRestart). */
export function rerunWrites(world: World): number {
  return [...carriers(world).values()].filter((txids) => rerunAfterJoinerRestart(world, txids))
    .length;
}

/** A client write (its request id) is carried by at most one committed transaction: a retry
 * must get the original outcome, never run twice. */
function checkNoDuplicateWrites(carriedBy: Map<string, Map<string, string>>): string[] {
  const problems: string[] = [];
  for (const [key, txids] of carriedBy) {
    if (txids.size > 1)
      problems.push(
        `write ${key.slice(0, 8)} committed ${txids.size} times: in ${[...txids.keys()].join(', ')}`,
      );
  }
  return problems;
}

/** Whether `attempt` can be the one a transaction `txid` its node began at `begin` carried: sent
 * before, and not answered "not committed" — unless the answer is that transaction's own result
 * for the write (`result`: it ran and failed, 5022 say, and the pool remembers that). */
function mayCarry(
  attempt: Attempt,
  txid: string,
  begin: number,
  result: number | undefined,
): boolean {
  if (attempt.seq > begin) return false;
  const answer = attempt.answer;
  if (!answer) return attempt.lost === undefined || attempt.lost > begin;
  if (writeOutcome(answer.code) !== 'not committed') return true;
  return answer.txid === txid && answer.code === result;
}

/** Whether a forwarded `attempt` can be the one transaction `txid` carried. Its member's crash
 * does not stop it: the write waits in the coordinator's queue, and its client was told
 * nothing. But an answer "not committed" must hold, unless it is the transaction's own result. */
function mayCarryForwarded(attempt: Attempt, txid: string, result: number | undefined): boolean {
  const answer = attempt.answer;
  if (!answer || writeOutcome(answer.code) !== 'not committed') return true;
  return answer.txid === txid && answer.code === result;
}

/** The result a committed write had, as a node that committed it remembers. */
function resultOf(world: World, requestId: string): number | undefined {
  for (const node of world.nodes) {
    const known = node.replica?.requestOutcomes.get(requestId);
    if (known) return known.code;
  }
  return undefined;
}

/**
 * "Not committed" means it (docs/CLIENT.md "Outcomes"): a write a node answered with a code
 * classified not committed (36000 busy or withdrawn, an abort, a refusal) is never carried by a
 * committed transaction that node coordinates, unless another attempt sent there could be the
 * one it carries. (The old busy answer to a write still queued or in flight fails this.)
 */
export function checkNotCommittedAnswers(
  world: World,
  carriedBy: Map<string, Map<string, string>>,
  midRun = false,
): string[] {
  const problems: string[] = [];
  for (const [requestId, txids] of carriedBy) {
    const attempts = world.answers.attempts.get(requestId) ?? [];
    for (const [txid, coordinator] of txids) {
      const begin = world.answers.begins.get(txid);
      if (begin === undefined) continue; // begun before the simulation recorded (never)
      const here = attempts.filter((attempt) => attempt.node === coordinator);
      const result = resultOf(world, requestId);
      // Between ticks the only nodes that remember the write's result may be down (a crashed
      // coordinator, a participant still in doubt): an answer that names this transaction
      // with the write's own result (5022, 5004 ...) cannot be judged yet. The check after
      // the liveness phase, every node back, judges it.
      if (midRun && result === undefined) continue;
      if (here.some((attempt) => mayCarry(attempt, txid, begin, result))) continue;
      // Or an attempt on a member that forwarded the write to this coordinator before it began.
      const forwards = (world.answers.forwards.get(requestId) ?? []).filter(
        (forward) => forward.to === coordinator && forward.seq <= begin,
      );
      const forwardedAttempts = attempts.filter((attempt) =>
        forwards.some((forward) => forward.from === attempt.node && attempt.seq <= forward.seq),
      );
      if (forwardedAttempts.some((attempt) => mayCarryForwarded(attempt, txid, result))) continue;
      const answered = here.find((attempt) => attempt.answer && attempt.seq <= begin)?.answer;
      problems.push(
        `write ${requestId.slice(0, 8)} committed by ${txid} on ${coordinator}, which had answered it ${answered?.code ?? 'nothing'} (not committed); begun at #${begin}, attempts there: ${here.map((a) => `#${a.seq}${a.answer ? ` answered ${a.answer.code} at #${a.answer.seq}` : ''}${a.lost !== undefined ? ` lost at #${a.lost}` : ''}`).join(', ')}`,
      );
    }
  }
  return problems;
}

/**
 * Every write's outcome is resolved consistently at the end, whatever its client was told on
 * the way (busy, nothing, a lost reply): each live member reports the same remembered outcome
 * for a write a committed transaction carries, and "none" (38721) for one none carries — never
 * pending once the pool converged — and a write acknowledged 0 reports that same transaction.
 */
function checkOutcomesResolved(
  world: World,
  node: SimNode,
  carriedBy: Map<string, Map<string, string>>,
): string[] {
  const problems: string[] = [];
  for (const write of world.writes.values()) {
    const reported = node.replica!.outcomeOf(write.requestId);
    const txid = [...(carriedBy.get(write.requestId)?.keys() ?? [])][0];
    const what = `write ${write.requestId.slice(0, 8)} on ${node.id}`;
    if (txid === undefined) {
      if (reported.code !== OUTCOME_NONE)
        problems.push(`${what}: no transaction carries it, yet it reports ${reported.code}`);
    } else if (reported.txid !== txid) {
      problems.push(
        `${what}: carried by ${txid}, but it reports ${reported.code} ${reported.txid}`,
      );
    }
    if (write.code === 0 && reported.code !== 0)
      problems.push(`${what}: acknowledged 0 in ${write.txid}, but it reports ${reported.code}`);
  }
  return problems;
}
