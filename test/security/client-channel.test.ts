// Attack suite, item 1: an on-path attacker between an application and the pool. Before the
// sealed channel it read the plaintext sent to `encrypt`, injected a `key.grant` into the
// logged-in session, and another user then exported the key. Each try below asserts the
// documented code, that the node stays up, that other clients are unaffected and that the
// pool did not change.

import { describe, expect, it } from 'vitest';
import { HsmError, CODE } from '../../host/core/codes.ts';
import { toBase64 } from '../../host/wire/bytes.ts';
import { ADMIN_PASSWORD, OnPathProxy, pool, responseOf, settle } from './harness.ts';
import { rejection } from '../fixtures.ts';

const SECRET = new TextEncoder().encode('wire-transfer 1,000,000 to account 42');

async function scene() {
  const p = await pool(1);
  const admin = await p.client('admin', ADMIN_PASSWORD);
  await admin.createUser('alice', 'alice-password');
  await admin.createUser('mallory', 'mallory-password');
  const proxy = new OnPathProxy(p.network);
  const alice = await p.client('alice', 'alice-password', proxy);
  await alice.generateKey('alice-aes', 'aes-256', { exportable: true });
  const mallory = await p.client('mallory', 'mallory-password');
  const aclOf = async () =>
    JSON.stringify((await alice.listKeys()).keys.find((key) => key.name === 'alice-aes'));
  return { p, admin, proxy, alice, mallory, aclOf };
}

/** A plaintext key.grant as an attacker would write it into alice's session. */
const injectedGrant = JSON.stringify({
  id: 77,
  request: {
    type: 'key.grant',
    requestId: 'ab'.repeat(16),
    name: 'alice-aes',
    user: 'mallory',
    use: true,
    export: true,
    remove: false,
  },
});

describe('an on-path attacker against the client channel', () => {
  it('reads nothing a logged-in session carries', async () => {
    const { proxy, alice } = await scene();
    const ciphertext = await alice.encrypt('alice-aes', SECRET);
    expect(await alice.decrypt('alice-aes', ciphertext)).toEqual(SECRET);
    const seen = proxy.everything;
    expect(seen).not.toContain(toBase64(SECRET));
    expect(seen).not.toContain(toBase64(ciphertext));
    expect(seen).not.toContain('"encrypt"');
    expect(seen).not.toContain('alice-aes');
  });

  it('cannot inject a plaintext request into a logged-in session (38732); the grant never happens', async () => {
    const { proxy, mallory, aclOf } = await scene();
    const before = await aclOf();
    const tap = proxy.taps.at(-1)!;
    tap.upstream.send(injectedGrant);
    await settle();
    expect(responseOf(tap.fromNode.at(-1))?.code).toBe(CODE.CHANNEL_PLAINTEXT);
    expect(tap.closed).toBe(true);
    await expect(mallory.exportKey('alice-aes')).rejects.toMatchObject({ code: 5002 });
    expect(await aclOf()).toBe(before); // alice reconnects and logs in again by herself
    expect((await mallory.listKeys()).keys).toEqual([]);
  });

  it('refuses a replayed sealed frame (38731) and the request does not run twice', async () => {
    const { p, proxy, alice } = await scene();
    await alice.generateKey('second', 'aes-256');
    const tap = proxy.taps.at(-1)!;
    const generate = tap.toNode.at(-1)!;
    expect(generate).toMatch(/^\{"sealed":"/);
    const keysBefore = p.pool.nodes[0].core.list('object').length;
    tap.upstream.send(generate);
    await settle();
    expect(responseOf(tap.fromNode.at(-1))?.code).toBe(CODE.CHANNEL_OUT_OF_SEQUENCE);
    expect(tap.closed).toBe(true);
    expect(p.pool.nodes[0].core.list('object').length).toBe(keysBefore);
  });

  it('refuses a bit flip (38730) and a truncated frame (38730), each ending only its own connection', async () => {
    for (const alter of [
      (frame: string) => {
        const at = frame.length - 8; // inside the tag
        return frame.slice(0, at) + (frame[at] === 'A' ? 'B' : 'A') + frame.slice(at + 1);
      },
      (frame: string) => frame.slice(0, 40) + '"}',
    ]) {
      const { proxy, alice, mallory } = await scene();
      proxy.rewrite = (frame) => (frame.startsWith('{"sealed"') ? alter(frame) : frame);
      const tap = proxy.taps.at(-1)!;
      const failed = await rejection(alice.encrypt('alice-aes', SECRET));
      proxy.rewrite = undefined;
      // The SDK retried on a fresh session, or reports the lost connection.
      if (failed !== undefined) expect(failed).toBeInstanceOf(HsmError);
      const refusal = tap.fromNode.map(responseOf).find((r) => r?.code === CODE.CHANNEL_TAMPERED);
      expect(refusal).toBeDefined();
      expect(tap.closed).toBe(true);
      expect(
        await mallory.generateKey(`m-${Math.random().toString(36).slice(2, 8)}`, 'aes-128'),
      ).toBeDefined();
      expect(await alice.decrypt('alice-aes', await alice.encrypt('alice-aes', SECRET))).toEqual(
        SECRET,
      );
    }
  });

  it('refuses reordered frames (38731)', async () => {
    const { proxy, alice } = await scene();
    let held: string | undefined;
    const tap = proxy.taps.at(-1)!;
    proxy.rewrite = (frame) => {
      if (held === undefined) {
        held = frame; // hold the first, send the second before it
        return undefined;
      }
      tap.upstream.send(frame);
      return held;
    };
    const results = await Promise.allSettled([
      alice.encrypt('alice-aes', SECRET),
      alice.encrypt('alice-aes', SECRET),
    ]);
    proxy.rewrite = undefined;
    expect(tap.fromNode.map(responseOf).some((r) => r?.code === CODE.CHANNEL_OUT_OF_SEQUENCE)).toBe(
      true,
    );
    expect(tap.closed).toBe(true);
    expect(results.length).toBe(2);
  });

  it('a sealed frame before login, or from another session, is refused (38731)', async () => {
    const { p, proxy, alice } = await scene();
    await alice.encrypt('alice-aes', SECRET);
    const stolen = proxy.taps.at(-1)!.toNode.at(-1)!;
    const fresh = await p.network.open('node0');
    const replies: string[] = [];
    fresh.listen({ frame: (text) => void replies.push(text), closed: () => {} });
    fresh.send(stolen);
    await settle();
    expect(responseOf(replies[0])?.code).toBe(CODE.CHANNEL_OUT_OF_SEQUENCE);
  });
});
