// Rebuilds a replica after a restart from the log records it had persisted (after the
// newest snapshot, which the caller has already imported into the core): committed batches
// are applied again, a PREPARE without an outcome becomes the pending transaction again
// (the PTL carries everything needed to commit it), membership events are merged, and the
// outcome caches that answer late messages and retried writes are refilled.

import type { Replica, TxState } from './replica.ts';
import type { LogRecord } from './types.ts';
import { rememberRequests } from './participant.ts';

export function restore(replica: Replica, records: readonly LogRecord[]): void {
  for (const record of records) {
    switch (record.type) {
      case 'prepare': {
        // A node starts or prepares a transaction only when it holds none, so whatever this
        // node coordinated before was finished (every live participant had acknowledged).
        for (const [txid, held] of replica.transactions) if (held.state === 'COMMITTED' || held.state === 'ABORTED') replica.transactions.delete(txid);
        const role = record.tx.coordinator === replica.id ? 'coordinator' : 'participant';
        const held: TxState = {
          tx: record.tx, role, state: role === 'coordinator' ? 'VIRTUAL' : 'PREPARED',
          votes: new Set(), acks: new Set(), requests: [], since: replica.now, statuses: new Map(),
        };
        replica.transactions.set(record.tx.txid, held);
        break;
      }
      case 'commit': {
        const held = replica.transactions.get(record.txid);
        if (!held) throw new Error(`log: COMMIT of ${record.txid} without its PREPARE`);
        const applied = replica.core.apply(held.tx.batch);
        if (applied.syncPoint.hex !== record.sp) replica.diverged = true;
        rememberRequests(replica, held.tx, applied.writeResults);
        replica.remember(record.txid, true);
        held.state = record.terminated ? 'COMMITTED_TM' : 'COMMITTED';
        // A coordinator keeps its decision until every participant acknowledged; acks are
        // not logged, so it asks again. A participant is done.
        if (held.role === 'participant') replica.transactions.delete(record.txid);
        break;
      }
      case 'abort': {
        replica.remember(record.txid, false);
        const held = replica.transactions.get(record.txid);
        if (held) {
          held.state = 'ABORTED';
          if (held.role === 'participant') replica.transactions.delete(record.txid);
        }
        break;
      }
      case 'node-down':
        replica.membership.markDown(record.node);
        break;
      case 'node-added':
        replica.membership.add(record.node);
        break;
    }
  }
  replica.fenced = replica.membership.isFenced(replica.id);
}
