// A node's committed history, in commit order: what it inherited by live-sync (the donor's
// history when the donor queued DONE; empty for a founder) and then the commits of its own log.
// Positions are absolute, so a joined node's history lines up with the founders'.

import type { LogRecord } from '../protocol/types.ts';

export interface Commits {
  readonly txids: string[];
  /** The SP after each commit. */
  readonly sps: bigint[];
}

export interface HasHistory {
  readonly inherited: Commits;
  readonly log: readonly LogRecord[];
}

/** The history of a node, plus records about to be persisted (the Ready being carried out). */
export function historyOf(node: HasHistory, more: readonly LogRecord[] = []): Commits {
  const txids = [...node.inherited.txids];
  const sps = [...node.inherited.sps];
  for (const record of [...node.log, ...more]) {
    if (record.type === 'commit') {
      txids.push(record.txid);
      sps.push(record.sp);
    }
  }
  return { txids, sps };
}

export const NO_HISTORY: Commits = { txids: [], sps: [] };

/** One client attempt of a write on one node, and the answer that node gave it (if any). */
export interface Attempt {
  readonly node: string;
  readonly seq: number;
  answer?: { readonly code: number; readonly txid: string | undefined; readonly seq: number };
  /** When the node crashed with this attempt unanswered (its waiter is gone). */
  lost?: number;
}

/** A write a member forwarded to a coordinator. */
export interface Forward {
  readonly from: string;
  readonly to: string;
  readonly seq: number;
}

/**
 * Every client attempt and every answer, in one sequence with the transactions coordinators
 * began (their PREPARE made durable), for the write-outcome checkers (checkers.ts). An outcome
 * on a node goes to every attempt there still waiting for that request id (the appliance
 * answers all its waiters of one request id); a refusal goes to the submission it names.
 */
export class AnswerLog {
  private seq = 0;
  readonly attempts = new Map<string, Attempt[]>();
  /** Transaction id -> when its coordinator made its PREPARE durable. */
  readonly begins = new Map<string, number>();
  /** Request id -> each forward of it a member sent to a coordinator (forwarding.ts). */
  readonly forwards = new Map<string, Forward[]>();
  /** Attempts waiting on each node. */
  private readonly waiting = new Map<string, Set<Attempt>>();

  /** Records a submission; its seq is the token the node's refusal of it names. */
  attempt(requestId: string, node: string): number {
    const attempt: Attempt = { node, seq: ++this.seq };
    const list = this.attempts.get(requestId) ?? [];
    list.push(attempt);
    this.attempts.set(requestId, list);
    if (!this.waiting.has(node)) this.waiting.set(node, new Set());
    this.waiting.get(node)!.add(attempt);
    return attempt.seq;
  }

  /** An answer: a refusal of one submission (`token`), or the write's outcome for every
   * attempt still waiting on that node that was made before it was decided (`upTo`). */
  answer(
    node: string,
    requestId: string,
    code: number,
    txid: string | undefined,
    token?: number,
    upTo?: number,
  ): void {
    const seq = ++this.seq;
    for (const attempt of this.attempts.get(requestId) ?? []) {
      if (attempt.node !== node || attempt.answer || attempt.lost !== undefined) continue;
      if (token !== undefined && attempt.seq !== token) continue;
      if (upTo !== undefined && attempt.seq > upTo) continue;
      attempt.answer = { code, txid, seq };
      this.waiting.get(node)?.delete(attempt);
    }
  }

  /** A member forwarded a write to a coordinator: attempts made there before may be the one a
   * transaction that coordinator begins later carries. */
  forwarded(from: string, to: string, requestId: string): void {
    const list = this.forwards.get(requestId) ?? [];
    list.push({ from, to, seq: ++this.seq });
    this.forwards.set(requestId, list);
  }

  /** The node crashed: attempts waiting there never get an answer. */
  crashed(node: string): void {
    const seq = ++this.seq;
    for (const attempt of this.waiting.get(node) ?? []) attempt.lost = seq;
    this.waiting.delete(node);
  }

  /** Records a node took to write (its PREPAREs leave then, Ready.early) or made durable: the
   * transactions it began as coordinator, at the first of the two. */
  persisted(node: string, records: readonly LogRecord[]): void {
    for (const record of records)
      if (
        record.type === 'prepare' &&
        record.tx.coordinator === node &&
        !this.begins.has(record.tx.txid)
      )
        this.begins.set(record.tx.txid, ++this.seq);
  }
}
