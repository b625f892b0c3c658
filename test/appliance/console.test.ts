// The console command set against appliances in one process.

import { describe, expect, it } from 'vitest';
import { runCommand } from '../../host/server/console-commands.ts';
import { CODE } from '../../host/core/codes.ts';
import { keyedCore, sampleObject, TEST_SVMK } from '../fixtures.ts';
import { startPool, objectWrites } from '../pool-writes.ts';

const codec = keyedCore();
const write = objectWrites(11);

describe('console commands', () => {
  it('info shows domain, SP and SPVV, timers, nodes and the pending transaction', async () => {
    const pool = await startPool({ nodes: 3, domain: 'bank' });
    const [a] = pool.appliances;
    // A write that cannot finish: node 3 is cut off, so the PTL stays with its GUID and PA marks.
    pool.hub.setIsolated(pool.founders[2].address, true);
    void a.write(write('k1'));
    await pool.run(10);
    const result = await runCommand(a, 'remote', 'info');
    expect(result.code).toBe(0);
    expect(result.text).toMatch(/Domain \.+ bank/);
    expect(result.text).toMatch(/Sync Point \.+ [0-9A-F]{16}  SPVV [0-9A-F]{4}/);
    expect(result.text).toMatch(/GUID \.+ [0-9a-f]{16}/);
    expect(result.text).toMatch(/state \.+ VIRTUAL \(1\)/);
    expect(result.text).toMatch(/type \.+ CREATE_OBJ \(4\)/);
    expect(result.text).toMatch(/127\.0\.0\.1:7001 \(coordinator\)/);
    expect(result.text).toMatch(/127\.0\.0\.3:7001 PA/);
    await pool.close();
  });

  it('node-down only from the remote console; refused for a node that answers; done for one that does not', async () => {
    const pool = await startPool({ nodes: 3 });
    const [a] = pool.appliances;
    const target = pool.founders[2];
    expect((await runCommand(a, 'local', `node-down ${target.id}`)).code).toBe(
      CODE.CONSOLE_NOT_HERE,
    );
    const alive = runCommand(a, 'remote', `node-down ${target.address}`);
    await pool.run(40);
    expect((await alive).code).toBe(38501);
    pool.hub.setIsolated(target.address, true);
    const dead = runCommand(a, 'remote', `node-down ${target.address}`);
    await pool.run(40);
    expect((await dead).code).toBe(0);
    expect(a.info().nodes.find((n) => n.id === target.id)?.fenced).toBe(true);
    await pool.close();
  });

  it('nodes add/remove, cross-check, planned removal, bad input', async () => {
    const pool = await startPool({ nodes: 3 });
    const [a, b] = pool.appliances;
    const local = async (line: string) => (await runCommand(a, 'local', line)).code;
    expect(await local('nodes add 00000000000000ff 127.0.0.9:7001')).toBe(0);
    expect((await runCommand(a, 'local', 'nodes')).text).toContain('00000000000000ff');
    expect(await local('nodes add zz 127.0.0.9:7001')).toBe(CODE.CONSOLE_USAGE);
    expect(await local('nodes add 00000000000000fe nowhere')).toBe(CODE.ADDRESS_INVALID);
    expect(await local(`nodes remove ${pool.founders[1].id}`)).toBe(CODE.INVALID_OPERATION); // a member
    expect(await local('nodes remove zz')).toBe(CODE.CONSOLE_USAGE);
    expect(await local('nodes remove 00000000000000ff')).toBe(0);
    const check = runCommand(a, 'local', 'cross-check 500');
    await pool.run(20);
    const checked = await check;
    expect(checked.code).toBe(0);
    expect(
      (checked.data as { rttMs?: number }[]).filter((r) => r.rttMs !== undefined),
    ).toHaveLength(2);
    expect(await local('frobnicate')).toBe(CODE.CONSOLE_USAGE);
    expect((await runCommand(a, 'remote', 'remove-node')).code).toBe(CODE.CONSOLE_NOT_HERE);
    const leaving = runCommand(b, 'local', 'remove-node');
    await pool.run(30);
    expect((await leaving).code).toBe(0);
    expect(a.info().nodes.find((n) => n.id === b.id)?.fenced).toBe(true);
    await pool.close();
  });

  it('the support bundle never carries key material', async () => {
    const pool = await startPool({ nodes: 2 });
    const record = codec.encode(sampleObject('secret-key', 'alice', 60, 9));
    const written = pool.appliances[0].write({
      ...write('secret-key'),
      operations: [{ op: 'insert', record }],
    });
    await pool.run(20);
    expect((await written).code).toBe(0);
    const bundle = (await runCommand(pool.appliances[0], 'remote', 'debug')).text;
    const wrapped = Buffer.from(
      codec.decode(record).kind === 'object'
        ? (codec.decode(record) as { wrapped: Uint8Array }).wrapped
        : [],
    )
      .toString('hex')
      .slice(0, 16);
    expect(bundle).not.toContain(wrapped);
    expect(bundle).not.toContain(Buffer.from(TEST_SVMK).toString('hex'));
    expect(JSON.parse(bundle).syncPointHistory.length).toBeGreaterThan(0);
    // JSON edges: a peer's SP is hex there (a bigint inside the host), as the node's own.
    const own = (await runCommand(pool.appliances[0], 'remote', 'info')).data as {
      syncPoint: { hex: string };
      nodes: { self: boolean; peer?: { sp: unknown } }[];
    };
    const peerSps = [own, JSON.parse(bundle) as typeof own].map(
      (view) => view.nodes.find((node) => !node.self)?.peer?.sp,
    );
    expect(peerSps).toEqual([own.syncPoint.hex, own.syncPoint.hex]);
    await pool.close();
  });
});
