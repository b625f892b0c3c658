// Live-sync between real WebSocket servers on loopback and file storage: the path
// `hsmpool node --join` takes (host/appliance/live-sync-cli.node.ts), minus the process.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Appliance } from '../../host/appliance/appliance.ts';
import { liveSyncJoin, type JoinProgress } from '../../host/appliance/live-sync.ts';
import { dialPeerSocket } from '../../host/appliance/live-sync-dial.node.ts';
import { Random } from '../../host/protocol/random.ts';
import { FileStorage } from '../../host/storage/file.node.ts';
import { startNodeServer, type NodeServer } from '../../host/transport/ws.node.ts';
import { keyedCore, TEST_SVMK, codeOf } from '../fixtures.ts';
import { objectWrites } from '../pool-writes.ts';
import { toNodeId, type NodeId } from '../../host/wire/ids.ts';

const random = new Random(77);
const write = objectWrites(78);

const serve = (nodeId: NodeId, svmk: Uint8Array) =>
  startNodeServer({ host: '127.0.0.1', port: 0, nodeId, svmk });

/** Writes, retrying the documented busy answer (a transaction still pending here). */
async function commit(appliance: Appliance, name: string): Promise<number> {
  const request = write(name);
  for (let attempt = 0; ; attempt++) {
    const reply = await appliance.write(request);
    if (reply.code !== 36000 || attempt > 100) return reply.code;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('live-sync over WebSocket', () => {
  it('a node joins a one-node pool over loopback; both commit afterwards; a wrong SVMK is refused with 5306', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsmpool-ls-'));
    try {
      const donorId = toNodeId(random.id64());
      const donorServer = await serve(donorId, TEST_SVMK);
      const donor = await Appliance.open({
        id: donorId,
        address: donorServer.address,
        domain: 'pool',
        poolId: 0x1234n,
        founders: [{ id: donorId, address: donorServer.address }],
        storage: await FileStorage.open(join(dir, 'a')),
        core: keyedCore(),
        random: random.fork(),
        transport: donorServer.peers,
      });
      const clock = setInterval(() => donor.tick(), 5);
      /** `id` on `server` joins from the donor under `svmk`, into `storage`. */
      const joinFrom = (
        id: NodeId,
        server: NodeServer,
        svmk: typeof TEST_SVMK,
        storage: FileStorage,
        onProgress?: (progress: JoinProgress) => void,
      ) =>
        liveSyncJoin({
          id,
          address: server.address,
          domain: 'pool',
          svmk,
          donor: { id: donorId, address: donorServer.address },
          transport: server.peers,
          dial: (address) => dialPeerSocket(address),
          core: keyedCore('release', svmk),
          storage,
          randomBytes: (n) => random.bytes(n),
          onProgress,
        });
      const preload = await Promise.all(
        Array.from({ length: 300 }, (_, i) => donor.write(write(`k${i}`))),
      );
      expect(preload.every((reply) => reply.code === 0)).toBe(true);

      // Another SVMK: refused by the handshake, nothing changes.
      const otherSvmk = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
      const badId = toNodeId(random.id64());
      const badStorage = await FileStorage.open(join(dir, 'bad'));
      const badServer = await serve(badId, otherSvmk);
      const refused = await codeOf(joinFrom(badId, badServer, otherSvmk, badStorage));
      await badStorage.close();
      expect(refused).toBe(5306);
      await badServer.close({ graceMs: 0 });
      expect(donor.info().epoch).toBe(0);

      const joinerId = toNodeId(random.id64());
      const joinerServer = await serve(joinerId, TEST_SVMK);
      const storage = await FileStorage.open(join(dir, 'b'));
      const phases = new Set<string>();
      const joined = await joinFrom(joinerId, joinerServer, TEST_SVMK, storage, (progress) =>
        phases.add(progress.phase),
      );
      expect(phases.has('done')).toBe(true);
      expect(joined.poolIdValue).toBe(0x1234n);
      const joiner = await Appliance.open({
        id: joinerId,
        address: joinerServer.address,
        domain: 'pool',
        poolId: joined.poolIdValue,
        founders: joined.membership.founders,
        membership: joined.membership,
        storage,
        core: keyedCore(),
        random: random.fork(),
        transport: joinerServer.peers,
      });
      const clock2 = setInterval(() => joiner.tick(), 5);
      expect(await commit(donor, 'after-1')).toBe(0);
      expect(await commit(joiner, 'after-2')).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(joiner.info().syncPoint.hex).toBe(donor.info().syncPoint.hex);
      expect(joiner.info().syncPoint.count).toBe(302);
      expect(donor.info().nodes.find((node) => node.id === joinerId)?.member).toBe(true);
      clearInterval(clock);
      clearInterval(clock2);
      await joiner.close();
      await donor.close();
      await joinerServer.close({ graceMs: 0 });
      await donorServer.close({ graceMs: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
