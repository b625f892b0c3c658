// Live-sync checks the joiner's release and operating mode (issue 15 item 6; DINAMO requires
// the same firmware version and mode on every member): the joiner driver states them, the
// envelope codec carries them (test/transport/codec.test.ts round-trips them), and a donor
// refuses any other, or none, with 38813 LIVE_SYNC_VERSION_MISMATCH. The same holds for the
// live-sync stream format (3: binary chunk and outcomes frames): a joiner of an older release, which states
// none, is refused before anything is sent.

import { describe, expect, it } from 'vitest';
import { CODE } from '../../host/core/codes.ts';
import { HSMPOOL_VERSION, OPERATING_MODE } from '../../host/core/version.ts';
import { Membership } from '../../host/protocol/membership.ts';
import {
  LIVE_SYNC_STREAM_VERSION,
  RELEASE,
  donorRefusal,
} from '../../host/protocol/live-sync/donor.ts';
import type { Replica } from '../../host/protocol/replica.ts';
import { toNodeId } from '../../host/wire/ids.ts';

const donor = {
  id: toNodeId('000000000000000a'),
  fenced: false,
  diverged: false,
  membership: new Membership([{ id: toNodeId('000000000000000a'), address: 'a:1' }]),
} as unknown as Replica;
const joiner = toNodeId('000000000000000b');

describe('live-sync release check', () => {
  it('the joiner states this release, mode and stream format', () => {
    expect(RELEASE).toEqual({
      version: HSMPOOL_VERSION,
      mode: OPERATING_MODE,
      stream: LIVE_SYNC_STREAM_VERSION,
    });
  });

  it('a donor accepts the same release and mode, and refuses another one, or none', () => {
    expect(donorRefusal(donor, joiner, 'pool', 'pool', RELEASE)).toBe(0);
    for (const other of [
      { version: '0.0.9', mode: OPERATING_MODE, stream: LIVE_SYNC_STREAM_VERSION },
      { version: HSMPOOL_VERSION, mode: 'fips', stream: LIVE_SYNC_STREAM_VERSION },
      { version: HSMPOOL_VERSION, mode: OPERATING_MODE }, // a joiner of stream format 1
      { version: HSMPOOL_VERSION, mode: OPERATING_MODE, stream: 1 },
      { version: HSMPOOL_VERSION, mode: OPERATING_MODE, stream: 2 }, // outcomes as JSON
      {},
    ])
      expect(donorRefusal(donor, joiner, 'pool', 'pool', other)).toBe(
        CODE.LIVE_SYNC_VERSION_MISMATCH,
      );
  });
});
