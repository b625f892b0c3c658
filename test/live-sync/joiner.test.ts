// The joiner driver alone, fed ticks and envelopes by hand: what real nodes and the simulator
// both run (protocol/live-sync/joiner.ts).

import { describe, expect, it } from 'vitest';
import { JoinerDriver } from '../../host/protocol/live-sync/joiner.ts';
import { JoinerSession } from '../../host/protocol/live-sync/donor.ts';
import { REQUEST_OUTCOMES_MAX } from '../../host/protocol/state.ts';
import type { Envelope, LiveSyncBody } from '../../host/protocol/types.ts';
import { keyedCore } from '../fixtures.ts';
import { toNodeId, toTxId } from '../../host/wire/ids.ts';
import { CODE } from '../../host/core/codes.ts';
import {
  OUTCOME_ENTRY_SIZE,
  encodeOutcomeEntries,
  readOutcomeEntry,
} from '../../host/wire/outcome-entries.ts';

const DONOR = { id: toNodeId('00000000000000d0'), address: '10.0.0.1:7001' };
const SELF = toNodeId('00000000000000a1');

function driver(options: { stallTicks?: number; requestEveryTicks?: number } = {}) {
  const sent: Envelope[] = [];
  const d = new JoinerDriver({
    id: SELF,
    donor: DONOR,
    session: 's1',
    core: keyedCore(),
    address: '10.0.1.1:7001',
    domain: 'pool',
    stallTicks: options.stallTicks ?? 10,
    requestEveryTicks: options.requestEveryTicks ?? 3,
    send: (envelope) => sent.push(envelope),
  });
  return { d, sent };
}

const from = (sender: string, body: Envelope['body']): Envelope => ({
  from: toNodeId(sender),
  to: SELF,
  epoch: 0,
  digest: '',
  sp: undefined,
  spvv: 0,
  body,
});

const types = (sent: Envelope[]): string[] => sent.map((e) => e.body.type);

describe('joiner driver', () => {
  it('repeats its request every requestEveryTicks until the stream starts, then fails after stallTicks of silence', () => {
    const { d, sent } = driver({ stallTicks: 10, requestEveryTicks: 3 });
    d.start();
    for (let t = 0; t < 10; t++) d.tick();
    // At 0, 3, 6, 9.
    expect(types(sent)).toEqual(Array(4).fill('live-sync-request'));
    expect(sent[0].to).toBe(DONOR.id);
    expect(d.state).toBe('requesting');
    d.tick();
    expect(d.state).toBe('failed');
    expect(d.error?.code).toBe(37032);
    expect(d.error?.message).toContain('before the transfer began');
    d.tick();
    expect(sent.length).toBe(4); // nothing after the failure
  });

  it("fails with the donor's code when refused, and ignores other senders and sessions", () => {
    const { d } = driver();
    d.start();
    const refused: LiveSyncBody = { type: 'live-sync-refused', session: 's1', code: 36000 };
    d.receive(from('00000000000000ee', refused));
    d.receive(from(DONOR.id, { ...refused, session: 'other' }));
    expect(d.state).toBe('requesting');
    d.receive(from(DONOR.id, refused));
    expect(d.state).toBe('failed');
    expect(d.error?.code).toBe(36000);
  });

  it("answers a member's probe with the joining digest while it joins, not after", () => {
    const { d, sent } = driver({ stallTicks: 2 });
    d.start();
    d.receive(from('00000000000000b2', { type: 'probe', nonce: 'n1' }));
    expect(sent[1]).toMatchObject({
      to: '00000000000000b2',
      digest: '',
      body: { type: 'probe-reply', nonce: 'n1' },
    });
    for (let t = 0; t < 3; t++) d.tick();
    expect(d.state).toBe('failed');
    const before = sent.length;
    d.receive(from('00000000000000b2', { type: 'probe', nonce: 'n2' }));
    expect(sent.length).toBe(before);
  });

  it('a core that cannot prepare for the image fails the attempt (37032) instead of throwing', () => {
    const core = keyedCore();
    const header = core.exportSnapshot();
    const d = new JoinerDriver({
      id: SELF,
      donor: DONOR,
      session: 's1',
      core,
      address: '10.0.1.1:7001',
      domain: 'pool',
      stallTicks: 10,
      requestEveryTicks: 3,
      send: () => {},
    });
    d.start();
    const begin = {
      type: 'live-sync-begin' as const,
      session: 's1',
      seq: 0,
      poolId: '0000000000000001',
      records: 0,
      bytes: 0,
      header: header.header,
    };
    header.close();
    d.receive(from(DONOR.id, begin));
    expect(d.state).toBe('streaming');
    core.importReserve = () => {
      throw new RangeError('out of memory');
    };
    expect(() => d.prepareImport()).not.toThrow();
    expect(d.state).toBe('failed');
    expect(d.error?.code).toBe(37032);
  });

  it('a stream that does not verify fails the attempt (37032) and leaves the core empty', () => {
    const { d } = driver();
    d.start();
    d.receive(
      from(DONOR.id, {
        type: 'live-sync-begin',
        session: 's1',
        seq: 0,
        poolId: '0000000000000001',
        records: 0,
        bytes: 0,
        header: new Uint8Array(3),
      }),
    );
    expect(d.state).toBe('failed');
    expect(d.error?.code).toBe(37032);
  });
});

/** A joiner session that received the begin of an empty snapshot; `item` numbers what follows. */
function begunSession() {
  const reader = keyedCore().exportSnapshot();
  const session = new JoinerSession('s1', keyedCore());
  let seq = 0;
  const item = <T extends object>(body: T) => ({ ...body, session: 's1', seq: seq++ });
  const begin = {
    type: 'live-sync-begin' as const,
    poolId: '0000000000000001',
    records: 0,
    bytes: 0,
  };
  session.receive(item({ ...begin, header: reader.header }));
  reader.close();
  return { session, item };
}

describe('joiner session', () => {
  it('hands on only the newest REQUEST_OUTCOMES_MAX write outcomes, as a replica keeps them', () => {
    const { session, item } = begunSession();
    const total = REQUEST_OUTCOMES_MAX + 10;
    const outcomes = Array.from({ length: total }, (_, i) => ({
      requestId: i.toString(16).padStart(32, '0'),
      code: 0,
      txid: toTxId('0000000000000002'),
    }));
    const entries = encodeOutcomeEntries(
      outcomes.map(({ requestId, code, txid }) => [requestId, { code, txid }]),
    );
    const size = 4096 * OUTCOME_ENTRY_SIZE;
    for (let at = 0; at < entries.length; at += size)
      session.receive(
        item({ type: 'live-sync-outcomes', entries: entries.subarray(at, at + size) }),
      );
    session.receive(
      item({ type: 'live-sync-done', membership: { founders: [], added: [], down: [] } }),
    );
    const handed = session.result!.requestOutcomes;
    expect(handed.length).toBe(REQUEST_OUTCOMES_MAX * OUTCOME_ENTRY_SIZE);
    expect(readOutcomeEntry(handed, 0)).toEqual(outcomes[10]);
    expect(readOutcomeEntry(handed, handed.length - OUTCOME_ENTRY_SIZE)).toEqual(outcomes.at(-1));
  });

  it('refuses outcomes that are not whole entries (37032), and takes nothing of them', () => {
    const { session, item } = begunSession();
    const bad = item({ type: 'live-sync-outcomes' as const, entries: new Uint8Array(27) });
    expect(() => session.receive(bad)).toThrow(
      expect.objectContaining({ code: CODE.UNDEFINED_LIVE_SYNC }),
    );
    expect(session.progress().phase).toBe('snapshot');
  });
});
