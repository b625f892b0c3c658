// The write path's specialised routines (issue 16, the core) compute exactly what the
// general ones do: SipHash-1-3-64 (the key-store index hash) against the reference
// implementation, and the name-byte table against the rule it replaces.

import { describe, expect, it } from 'vitest';
import { keyedCore } from '../fixtures.ts';
import * as ref from '../reference/sync-point.ts';

const NAME_RULE = /^[A-Za-z0-9_.@-]$/;

describe.each(['release', 'scalar', 'debug'] as const)('fast paths on the %s build', (variant) => {
  it('SipHash-1-3-64 matches the reference for every length up to 48 bytes', () => {
    const core = keyedCore(variant);
    const key = Uint8Array.from({ length: 16 }, (_, i) => (i * 29 + 7) & 0xff);
    const k0 = ref.le64(key, 0);
    const k1 = ref.le64(key, 8);
    for (let length = 0; length <= 48; length++) {
      const message = Uint8Array.from({ length }, (_, i) => (i * 131 + length) & 0xff);
      const [first] = core.sipHash(key, message, 1, 3, false);
      expect(first, `length ${length}`).toBe(ref.sipHash(k0, k1, message, 1, 3, false)[0]);
    }
  });

  it('a record name accepts exactly the bytes [A-Za-z0-9_.@-]', () => {
    const core = keyedCore(variant);
    const record = core.encode({
      kind: 'object',
      name: 'key-01',
      keyType: 'aes-256',
      exportable: false,
      temporary: false,
      owner: 'owner-01',
      acl: [],
      wrapped: new Uint8Array(29),
    });
    const NAME_AT = 8 + 3; // the header, then 'key' of 'key-01'
    const accepted: number[] = [];
    for (let byte = 0; byte < 256; byte++) {
      const bytes = record.slice();
      bytes[NAME_AT] = byte;
      if (core.validate(bytes) === 0) accepted.push(byte);
    }
    const expected = Array.from({ length: 256 }, (_, byte) => byte).filter((byte) =>
      NAME_RULE.test(String.fromCharCode(byte)),
    );
    expect(accepted).toEqual(expected);
  });
});
