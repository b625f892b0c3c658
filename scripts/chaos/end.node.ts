// The end of the chaos campaign (docs/CHAOS.md): once the last cycle healed, every write not
// acknowledged is resolved with client.outcome, the pool settles, every node is read, and the
// converged state is judged against what the writers were told (check.ts).

import type { HsmClient } from '../../host/client/package.node.ts';
import { judge, type NodeState, type Verdict, type WriteRecord } from './check.ts';
import { settle } from './cycle.node.ts';
import type { ChaosPool, NodeInfo } from './pool.node.ts';
import { READER_KEY } from './workload.node.ts';

/** Pages of LIST_PAGE_SIZE_MAX names read per node at the end (1000 each). */
export const LIST_PAGES_MAX = 1000;

/** Opens a client on the given node addresses (closed with the campaign's other clients). */
export type ConnectClient = (nodes: string[], busyRetriesMax: number) => Promise<HsmClient>;

/** The end phase; a node left fenced or diverged is added to `failures`. */
export async function endCheck(
  pool: ChaosPool,
  writes: WriteRecord[],
  prober: HsmClient,
  connect: ConnectClient,
  failures: string[],
): Promise<Verdict> {
  await settle(pool);
  await resolveOutcomes(prober, writes);
  // Late commits (a write answered busy that commits after all) land before the reads.
  await settle(pool);
  const states = await readEveryNode(pool, connect);
  const verdict = judge(writes, states, new Set([READER_KEY]));
  for (const state of states)
    if (state.fenced || state.diverged)
      failures.push(`node ${state.node} is ${state.fenced ? 'fenced' : 'diverged'} at the end`);
  return verdict;
}

/**
 * client.outcome(requestId): every write not acknowledged is asked about; what it says is then
 * held to the converged state.
 */
async function resolveOutcomes(prober: HsmClient, writes: WriteRecord[]): Promise<void> {
  for (const record of writes) {
    if (!record.requestId || record.code === 0) continue;
    try {
      const report = await prober.outcome(record.requestId);
      record.resolvedState = report.state;
      if (report.state === 'committed') record.resolvedCode = 0;
      else if (report.state === 'not committed') record.resolvedCode = report.code ?? -1;
    } catch {
      record.resolvedState = 'no answer';
    }
  }
}

/** Each node's state and every name it lists, one node after the other, each by its own client. */
async function readEveryNode(
  pool: ChaosPool,
  connect: ConnectClient,
): Promise<(NodeState & NodeInfo)[]> {
  const states: (NodeState & NodeInfo)[] = [];
  for (const [i, address] of pool.addresses.entries()) {
    const [info, names] = await Promise.all([pool.info(i), listAll(await connect([address], 8))]);
    states.push({ node: i + 1, ...info, names });
  }
  return states;
}

/** Every persistent key name a node lists (pages of 1000, at most LIST_PAGES_MAX pages). */
async function listAll(client: HsmClient): Promise<Set<string>> {
  const names = new Set<string>();
  let after: string | undefined;
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    const { keys, more } = await client.listKeys({ limit: 1000, ...(after ? { after } : {}) });
    for (const key of keys) names.add(key.name);
    if (!more || keys.length === 0) return names;
    after = keys[keys.length - 1].name;
  }
  throw new Error(`a node lists more than ${LIST_PAGES_MAX} pages of keys`);
}
