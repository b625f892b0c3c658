// What the simulator found in live-sync, each pinned down without it: the seeds that showed
// them are replayed in test/protocol/sim.test.ts.

import { nextCheckpoint, saveRequestOutcomes } from '../../host/log/request-outcomes.ts';
import { describe, expect, it } from 'vitest';
import { toPoolNode } from '../../host/log/log-records.ts';
import { NodeRuntime, type RuntimeOptions } from '../../host/appliance/runtime.ts';
import { LOG_START, LogEncoder } from '../../host/core/txlog.ts';
import {
  DonorSession,
  JoinerSession,
  LIVE_SYNC_CHUNK_BYTES,
  LIVE_SYNC_RESEND_TICKS,
  donorPreempts,
} from '../../host/protocol/live-sync/donor.ts';
import { HsmError } from '../../host/core/codes.ts';
import { Random } from '../../host/protocol/random.ts';
import { Replica } from '../../host/protocol/replica.ts';
import { drawParams } from '../../host/sim/params.ts';
import { World } from '../../host/sim/world.ts';
import type { LiveSyncBody, NodeAddress, NodeId, Transaction } from '../../host/protocol/types.ts';
import { writeCheckpoint } from '../../host/log/compaction.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { keyedCore } from '../fixtures.ts';
import { applyObject } from '../pool-writes.ts';
import { nodeIdOfNumber, toTxId } from '../../host/wire/ids.ts';

const node = (n: number): NodeAddress => ({
  id: nodeIdOfNumber(BigInt(n)),
  address: `10.0.0.${n}:7001`,
});
const founders = [node(1), node(2), node(3)];
const joiner = node(0xa1);

function pendingTx(replica: Replica, txid: string, participants: NodeId[]): void {
  const sp = replica.core.syncPoint();
  const tx: Transaction = {
    txid: toTxId(txid),
    epoch: 0,
    coordinator: founders[1].id,
    participants,
    nodes: founders,
    spBefore: sp.sp,
    spvvBefore: sp.spvv,
    spAfter: sp.sp,
    spvvAfter: sp.spvv,
    tick: 0,
    event: 0,
    sourceUser: 'alice',
    target: 'k',
    batch: new Uint8Array(4), // no writes
  };
  // As recovery finds a participant's PREPARE in its log: in doubt here.
  replica.restore({ pending: tx, outcomes: [], requestOutcomes: [], added: [], down: [] });
}

/** Its coordinator (founder 2) tells `replica` the outcome of `txid`. */
function decide(replica: Replica, txid: string, commit: boolean): void {
  const status = replica.status();
  replica.receive({
    from: founders[1].id,
    to: replica.id,
    epoch: status.epoch,
    digest: status.digest,
    sp: status.sp,
    spvv: status.spvv,
    body: { type: 'decision', txid: toTxId(txid), commit },
  });
}

/** The live-sync items the replica sent since the last call (takes its output). The probes
 * of an add's confirmation among them are answered by every member with the donor's own
 * membership (they all know the joiner), as a healthy pool would. */
function sent(replica: Replica, session?: DonorSession): LiveSyncBody[] {
  const messages = replica.ready().messages;
  const items = messages
    .map((m) => m.body)
    .filter((b): b is LiveSyncBody => b.type.startsWith('live-sync-'));
  const probes = messages.filter((m) => m.body.type === 'probe');
  if (session && probes.length > 0) {
    for (const probe of probes)
      session.onProbeReply(
        probe.to,
        (probe.body as { nonce: string }).nonce,
        replica.membership.digest(),
      );
    return [...items, ...sent(replica)];
  }
  return items;
}

/** Founder 1 as a donor, outside any pool. */
const donorReplica = (seed: number): Replica =>
  new Replica({ id: founders[0].id, core: keyedCore(), random: new Random(seed), founders });

/** A transfer of `replica`'s current state to `to` (the joiner), session `id` ('s1'). */
const sessionOn = (replica: Replica, to = joiner, id = 's1'): DonorSession =>
  new DonorSession(
    replica,
    to,
    id,
    replica.core.exportSnapshot(LIVE_SYNC_CHUNK_BYTES),
    '0000000000051313',
  );

/** Opens node `id`'s runtime of pool 7 from `storage` (given `membership`: as after a join). */
const runtimeOf = (id: NodeId, storage: MemoryStorage, membership?: RuntimeOptions['membership']) =>
  NodeRuntime.open({
    id,
    poolId: 7n,
    founders,
    storage,
    core: keyedCore(),
    random: new Random(1),
    membership,
  });

describe('live-sync, as the simulator found it', () => {
  it("a retry of a joiner already added waits for the donor's in-doubt transactions of the epoch before (seed 219)", () => {
    const replica = donorReplica(1);
    // Another donor added the joiner; this one is still in doubt about a transaction of the
    // epoch before, which its coordinator may have committed already.
    replica.addMember(joiner);
    pendingTx(replica, '0000000000000001', [founders[0].id, founders[2].id]);
    const session = sessionOn(replica);
    session.onAck((sent(replica) as { seq: number }[]).at(-1)!.seq); // the joiner has the snapshot
    session.onTick();
    expect(sent(replica, session).some((b) => b.type === 'live-sync-done')).toBe(false);
    // Resolved here (decided by its coordinator): now DONE follows it.
    decide(replica, '0000000000000001', false);
    session.onTick();
    expect(sent(replica, session).some((b) => b.type === 'live-sync-done')).toBe(true);
  });

  it("a pending transaction that names the joiner does not hold DONE back (it needs the joiner's vote)", () => {
    const replica = donorReplica(1);
    replica.addMember(joiner);
    pendingTx(replica, '0000000000000002', [founders[0].id, founders[2].id, joiner.id]);
    const session = sessionOn(replica);
    const items = sent(replica) as { seq: number }[];
    session.onAck(items.at(-1)!.seq);
    session.onTick();
    expect(sent(replica, session).some((b) => b.type === 'live-sync-done')).toBe(true);
  });

  it('a joiner never splices two streams: a BEGIN over another snapshot (the donor restarted) fails the attempt (37032)', () => {
    const source = donorReplica(3);
    const first = sessionOn(source);
    const items = sent(source) as (LiveSyncBody & { seq: number })[];
    const joinerSession = new JoinerSession('s1', keyedCore());
    expect(joinerSession.receive(items[0] as never)).toBe(0);
    expect(joinerSession.receive(items[0] as never)).toBe(0); // a resent BEGIN: the same header
    first.finish();
    // The donor's state moved on; "restarted", it serves the same session from seq 0 again.
    applyObject(source.core, 'moved');
    sessionOn(source);
    const again = sent(source) as (LiveSyncBody & { seq: number })[];
    expect(() => joinerSession.receive(again[0] as never)).toThrow(HsmError);
  });

  it("DONE waits until every other member showed the donor's membership (the add confirmed)", () => {
    const replica = donorReplica(2);
    const session = sessionOn(replica);
    session.onAck((sent(replica) as { seq: number }[]).at(-1)!.seq);
    session.onIdle(); // the add: NODE_ADDED, the membership pushed, probes to nodes 2 and 3
    const messages = replica.ready().messages;
    const probes = messages.filter((m) => m.body.type === 'probe');
    expect(probes.map((m) => m.to).sort()).toEqual([founders[1].id, founders[2].id]);
    const nonce = (probes[0].body as { nonce: string }).nonce;
    // Node 2 answers with the new membership, node 3 with an old one (it has not merged yet).
    session.onProbeReply(founders[1].id, nonce, replica.membership.digest());
    session.onProbeReply(founders[2].id, nonce, 'some-other-digest');
    expect(sent(replica).some((b) => b.type === 'live-sync-done')).toBe(false);
    session.onProbeReply(founders[2].id, nonce, replica.membership.digest());
    expect(sent(replica).some((b) => b.type === 'live-sync-done')).toBe(true);
  });

  it('a joiner already a member goes before a session for a node not yet added (seed 2040)', () => {
    const replica = donorReplica(1);
    const session = sessionOn(replica, node(0xa2), 's2');
    expect(donorPreempts(replica, session, joiner.id)).toBe(false); // two newcomers: first come, first served
    replica.addMember(joiner);
    expect(donorPreempts(replica, session, joiner.id)).toBe(true);
  });

  it("a node restarted after a joiner was added and declared down comes back at its log's epoch (seed 2305)", async () => {
    const storage = new MemoryStorage();
    const open = () => runtimeOf(founders[0].id, storage);
    const runtime = await open();
    runtime.replica.addMember(joiner);
    runtime.replica.mergeMembership({ founders, added: [joiner], down: [joiner.id] });
    await runtime.storeBatch(runtime.takeBatch());
    const again = await open();
    expect(again.replica.membership.epoch).toBe(2);
    expect(again.replica.membership.digest()).toBe(runtime.replica.membership.digest());
  });

  it('a joined node restarted with its founders only keeps the events before its join (seed 1221)', async () => {
    const storage = new MemoryStorage();
    // The pool: founder 3 declared down, then the joiner added (epoch 2). The joiner's checkpoint
    // names the members only.
    const membership = { founders, added: [joiner], down: [founders[2].id] };
    const core = keyedCore();
    // As liveSyncJoin writes it: the request outcomes naming the checkpoint, then the checkpoint.
    await saveRequestOutcomes(storage, [], nextCheckpoint(core, LOG_START));
    await writeCheckpoint(
      core,
      storage,
      new LogEncoder(core, 7n, LOG_START, 2n),
      [founders[0], founders[1], joiner].map(toPoolNode),
    );
    const first = await runtimeOf(joiner.id, storage, membership);
    expect(first.replica.membership.epoch).toBe(2);
    const restarted = await runtimeOf(joiner.id, storage);
    expect(restarted.replica.membership.epoch).toBe(2);
    expect(restarted.replica.membership.isFenced(founders[2].id)).toBe(true);
  });
});

// Found as an open case, fixed since: the add and a node-down of the donor are concurrent
// events. A donor cut off from the others adds the joiner; meanwhile the others, who never
// heard of the add, declare the donor down and commit without it, so nothing needs the
// joiner's vote. Before the fix the joiner got DONE and, once the membership merged, held the
// donor's stale state: it voted "not synced" (36500) on every PREPARE and the pool took no
// write. Now DONE waits until every other member showed the donor's membership (probe replies
// carrying its digest), on a retry to the same donor too; the joiner gets in from a member
// that is still one.
it('a donor declared down while cut off cannot let a joiner in with its stale image: the add waits for every member to confirm', async () => {
  const params = {
    ...drawParams(1),
    nodes: 3,
    messageLoss: 0,
    messageDuplication: 0,
    delayTicksMax: 2,
    partitionChange: 0,
    crashRate: 0,
    clients: 2,
    thinkTicksMax: 10,
    staysDead: 0,
    joins: 0,
  };
  const world = new World(params, () => keyedCore());
  await world.open();
  for (let t = 0; t < 60; t++) await world.step();
  world.clientsOn = false;
  for (let t = 0; t < 300; t++) await world.step(); // every write answered, the pool idle
  const [donor, issuer] = world.nodes;
  // The joiner asks the donor first; once the donor is known to be down, any member.
  let cutOff = true;
  const joiner = world.joins.add(() =>
    cutOff
      ? [donor.id]
      : world.nodes
          .filter((n) => n.fencedAtLog === undefined && n.id !== donor.id)
          .map((n) => n.id),
  );
  world.network.split([donor.id, joiner.id], [...world.nodes.map((n) => n.id), joiner.id]);
  await world.randomNodeDown(donor, issuer); // the donor does not answer the probe: fenced
  for (let t = 0; t < 60; t++) await world.step();
  world.clientsOn = true; // writes commit on the issuer's side, without the donor
  for (let t = 0; t < 300; t++) await world.step();
  world.clientsOn = false;
  // The cut-off donor added the joiner but could not get the add confirmed: no DONE.
  expect(joiner.result).toBeUndefined();
  world.network.heal();
  cutOff = false;
  for (let t = 0; t < 3000 && !joiner.result; t++) await world.step();
  for (let t = 0; t < 1000; t++) await world.step();
  expect(joiner.result).toBeDefined();
  const live = world.nodes.filter((n) => n.replica && !n.replica.fenced);
  expect(live.map((n) => n.id)).toContain(joiner.id);
  expect(new Set(live.map((n) => n.replica!.core.syncPoint().hex)).size).toBe(1);
}, 60_000);

describe('live-sync donor: BEGIN goes first', () => {
  it('sends BEGIN alone, the chunks only once it is acknowledged; a lost BEGIN is sent again', () => {
    const replica = donorReplica(5);
    for (let i = 0; i < 20; i++) applyObject(replica.core, `key-${i}`);
    const session = sessionOn(replica);
    const first = sent(replica);
    expect(first.map((item) => item.type)).toEqual(['live-sync-begin']);
    // Ticks without BEGIN's acknowledgement: no chunk (the joiner sizes its table meanwhile).
    const meanwhile: LiveSyncBody[] = [];
    for (let t = 0; t < LIVE_SYNC_RESEND_TICKS - 1; t++) {
      replica.tick();
      session.onTick();
      meanwhile.push(...sent(replica));
    }
    expect(meanwhile).toEqual([]);
    replica.tick();
    session.onTick();
    expect(sent(replica).map((item) => item.type)).toEqual(['live-sync-begin']); // resent
    session.onAck(0);
    const after = sent(replica);
    expect(after[0].type).toBe('live-sync-chunk');
    const chunkBytes = after.reduce(
      (sum, item) => sum + (item.type === 'live-sync-chunk' ? item.data.length : 0),
      0,
    );
    expect((first[0] as { bytes: number }).bytes).toBe(chunkBytes); // BEGIN announced them
    // The joiner gets the whole store from that stream, sized at BEGIN.
    const joinerCore = keyedCore();
    const joinerSession = new JoinerSession('s1', joinerCore);
    expect(joinerSession.receive(first[0] as never)).toBe(0);
    joinerSession.prepareImport();
    const slots = joinerCore.exports.store_slots();
    expect(slots).toBeGreaterThanOrEqual(2 * 20);
    for (const item of after)
      if (item.type === 'live-sync-chunk') joinerSession.receive(item as never);
    expect(joinerCore.exports.store_slots()).toBe(slots);
    joinerSession.prepareImport(); // a chunk came: nothing to do
    expect(joinerCore.count()).toBe(20);
  });
});
