// The chaos campaign's judgement, pure (no I/O): how each answer a writer got is classified,
// and what the converged pool must then hold. docs/CHAOS.md.

import { describe, writeOutcome } from '../../host/core/codes.ts';

/** What an answer tells the caller about its write. */
export type OutcomeClass = 'acknowledged' | 'not-committed' | 'unknown';

/**
 * How the campaign judges a write's final answer: the project's one classification
 * (`writeOutcome` beside the return-code table, docs/CLIENT.md "Outcomes"), so the campaign
 * tests exactly what the documentation promises. A code the table does not know is judged
 * unknown, and counted as unclassified in the summary, so a new code shows up rather than
 * being judged wrongly.
 */
export function classify(code: number): { class: OutcomeClass; listed: boolean } {
  const listed = describe(code).name !== 'UNKNOWN';
  if (!listed) return { class: 'unknown', listed };
  const outcome = writeOutcome(code);
  const kind: OutcomeClass =
    outcome === 'committed' ? 'acknowledged' : outcome === 'unknown' ? 'unknown' : 'not-committed';
  return { class: kind, listed };
}

/** One write call of the campaign. */
export interface WriteRecord {
  readonly name: string;
  readonly cycle: number;
  /** ms since the campaign started, when the call was made and answered. */
  readonly invokedMs: number;
  answeredMs?: number;
  /** The final code; undefined while in flight (the campaign waits for every call). */
  code?: number;
  requestId?: string;
  /** client.outcome(requestId) at the end, when the SDK has it: 0 committed, another code
   * not committed; undefined when it could not say (pending, unknown, no answer). */
  resolvedCode?: number;
  /** What client.outcome said ('committed', 'not committed', 'pending', 'unknown'). */
  resolvedState?: string;
}

export interface NodeState {
  readonly node: number;
  readonly sp: string;
  readonly spvv: string;
  readonly records: number;
  readonly pending: number;
  /** Every object name the node lists. */
  readonly names: ReadonlySet<string>;
}

export interface Verdict {
  readonly writes: number;
  readonly acknowledged: number;
  readonly notCommitted: number;
  readonly unknown: number;
  readonly unclassifiedCodes: number[];
  /** Unknown outcomes, resolved: by client.outcome, or by presence on every / no node. */
  readonly unknownResolved: { committed: number; notCommitted: number; byOutcome: number };
  /** What client.outcome said of the writes asked (every one not acknowledged), by state. */
  readonly outcomeStates: Record<string, number>;
  /** Acknowledged writes missing from some node. */
  readonly lost: { name: string; cycle: number; missingOn: number[] }[];
  /** Writes answered "not committed" that some node holds. */
  readonly falseNotCommitted: { name: string; cycle: number; code: number; on: number[] }[];
  /** Objects no write call ever named (beyond the campaign's own fixtures). */
  readonly phantoms: { name: string; on: number[] }[];
  /** Names that some nodes hold and others do not (whatever the answer was). */
  readonly split: { name: string; on: number[] }[];
  readonly spEqual: boolean;
  readonly pendingLeft: number;
  readonly codes: Record<string, number>;
}

/**
 * Judges the converged pool. `fixtures`: names the campaign created outside the write records
 * (the reader's key, the recovery probes); they must be present nowhere less than everywhere.
 */
export function judge(
  writes: readonly WriteRecord[],
  nodes: readonly NodeState[],
  fixtures: ReadonlySet<string> = new Set(),
): Verdict {
  const tally = judgeWrites(writes, nodes);
  const phantoms = judgeNames(writes, nodes, fixtures, tally.split);
  const first = nodes[0];
  return {
    writes: writes.length,
    acknowledged: tally.acknowledged,
    notCommitted: tally.notCommitted,
    unknown: tally.unknown,
    unclassifiedCodes: [...tally.unclassified].sort((a, b) => a - b),
    unknownResolved: tally.unknownResolved,
    outcomeStates: tally.outcomeStates,
    lost: tally.lost,
    falseNotCommitted: tally.falseNotCommitted,
    phantoms,
    split: tally.split,
    spEqual:
      first !== undefined &&
      nodes.every(
        (node) =>
          node.sp === first.sp && node.spvv === first.spvv && node.records === first.records,
      ),
    pendingLeft: nodes.reduce((sum, node) => sum + node.pending, 0),
    codes: tally.codes,
  };
}

/** The node numbers holding `name`. */
function holders(nodes: readonly NodeState[], name: string): number[] {
  return nodes.filter((node) => node.names.has(name)).map((node) => node.node);
}

/** What the write records add up to, held against the nodes' contents. */
interface WriteTally {
  acknowledged: number;
  notCommitted: number;
  unknown: number;
  readonly unclassified: Set<number>;
  readonly unknownResolved: Verdict['unknownResolved'];
  readonly outcomeStates: Record<string, number>;
  readonly lost: Verdict['lost'];
  readonly falseNotCommitted: Verdict['falseNotCommitted'];
  readonly split: Verdict['split'];
  readonly codes: Record<string, number>;
}

/** Each write by the class of its answer: where is it, and is that where the answer says? */
function judgeWrites(writes: readonly WriteRecord[], nodes: readonly NodeState[]): WriteTally {
  const everyNode = nodes.map((node) => node.node);
  const missing = (on: number[]): number[] => everyNode.filter((node) => !on.includes(node));
  const tally: WriteTally = {
    acknowledged: 0,
    notCommitted: 0,
    unknown: 0,
    unclassified: new Set(),
    unknownResolved: { committed: 0, notCommitted: 0, byOutcome: 0 },
    outcomeStates: {},
    lost: [],
    falseNotCommitted: [],
    split: [],
    codes: {},
  };
  const { codes, outcomeStates, lost, falseNotCommitted, split, unknownResolved } = tally;
  for (const write of writes) {
    const code = write.code ?? 1004;
    codes[code] = (codes[code] ?? 0) + 1;
    const { class: kind, listed } = classify(code);
    if (write.resolvedState !== undefined)
      outcomeStates[write.resolvedState] = (outcomeStates[write.resolvedState] ?? 0) + 1;
    if (!listed) tally.unclassified.add(code);
    const on = holders(nodes, write.name);
    if (on.length > 0 && on.length < nodes.length) split.push({ name: write.name, on });
    if (kind === 'acknowledged') {
      tally.acknowledged++;
      if (on.length < nodes.length)
        lost.push({ name: write.name, cycle: write.cycle, missingOn: missing(on) });
    } else if (kind === 'not-committed') {
      tally.notCommitted++;
      if (on.length > 0) falseNotCommitted.push({ name: write.name, cycle: write.cycle, code, on });
    } else {
      tally.unknown++;
      if (write.resolvedCode !== undefined) unknownResolved.byOutcome++;
      const committed =
        write.resolvedCode !== undefined ? write.resolvedCode === 0 : on.length === nodes.length;
      if (committed) unknownResolved.committed++;
      else unknownResolved.notCommitted++;
      // client.outcome said committed: it must be everywhere (and absent if it said not).
      if (write.resolvedCode === 0 && on.length < nodes.length)
        lost.push({ name: write.name, cycle: write.cycle, missingOn: missing(on) });
      if (write.resolvedCode !== undefined && write.resolvedCode !== 0 && on.length > 0)
        falseNotCommitted.push({ name: write.name, cycle: write.cycle, code, on });
    }
  }
  return tally;
}

/**
 * Every name some node holds, from the other side: the phantoms (no write named it, no
 * fixture), returned; a fixture on some nodes only is added to `split`.
 */
function judgeNames(
  writes: readonly WriteRecord[],
  nodes: readonly NodeState[],
  fixtures: ReadonlySet<string>,
  split: Verdict['split'],
): Verdict['phantoms'] {
  const written = new Set(writes.map((write) => write.name));
  const phantoms: Verdict['phantoms'] = [];
  const seen = new Set<string>();
  for (const node of nodes)
    for (const name of node.names) {
      if (seen.has(name)) continue;
      seen.add(name);
      const on = holders(nodes, name);
      if (!written.has(name) && !fixtures.has(name)) phantoms.push({ name, on });
      else if (fixtures.has(name) && on.length < nodes.length) split.push({ name, on });
    }
  return phantoms;
}

/** Median and maximum of a list of numbers (0 for an empty list). */
export function medianMax(values: readonly number[]): { median: number; max: number } {
  if (values.length === 0) return { median: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, max: sorted[sorted.length - 1] };
}
