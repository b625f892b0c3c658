// A node's committed history, in commit order: what it inherited by live-sync (the donor's
// history when the donor queued DONE; empty for a founder) and then the commits of its own log.
// Positions are absolute, so a joined node's history lines up with the founders'.

import type { LogRecord } from '../protocol/types.ts';

export interface Commits {
  readonly txids: string[];
  /** The SP after each commit. */
  readonly sps: string[];
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
