// `hsmpool node --join HOST:PORT` (Node only): a directory that is not a member yet takes the
// pool image by live-sync, with a progress line, on the server the node then keeps running
// with (so the write outcomes it received stay). The id and address are kept in
// DIR/joining.json until the join completed: a retry after a crash is the same node coming
// back (docs/LIVE_SYNC.md). The same file marks a live-sync in place that died while it
// overwrote the node's state; --join then finishes it.

import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CODE, HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import type { Storage } from '../storage/storage.ts';
import type { NodeServer } from '../transport/ws.node.ts';
import { CliError, EXIT, metaDamaged } from './exit-codes.ts';
import {
  configPath,
  newNodeId,
  readConfig,
  readSvmkFile,
  splitAddress,
  svmkPath,
  writeNodeDirectory,
  type NodeConfig,
} from './config.ts';
import type { NodeCommandOptions } from './node-command.ts';
import {
  liveSyncJoin,
  type DonorAddress,
  type JoinProgress,
  type Joined,
} from '../appliance/live-sync.ts';
import { dialPeerSocket } from '../appliance/live-sync-dial.node.ts';
import { probePeer } from '../transport/probe.ts';
import { DISCOVERY_PROBE_TIMEOUT_MS, DISCOVERY_PULSE_TICKS } from '../appliance/discovery.ts';
import { TICK_MS } from '../appliance/appliance.ts';
import { randomBytes } from 'node:crypto';
import { isNodeId, type NodeId } from '../wire/ids.ts';
import { nodeSha256 } from '../wire/crypto-engine.node.ts';

export const joiningPath = (dir: string): string => join(dir, 'joining.json');

/** HOST:PORT, or ID@HOST:PORT to insist on that node. */
export function parseDonor(text: string): DonorAddress {
  const at = text.indexOf('@');
  const id = at < 0 ? undefined : text.slice(0, at);
  const address = text.slice(at + 1);
  if (id !== undefined && !isNodeId(id))
    throw new CliError(EXIT.USAGE, `--join: ${id} is not a node id (16 lowercase hex digits)`);
  splitAddress(address);
  return id === undefined ? { address } : { id, address };
}

export function progressLine(progress: JoinProgress): string {
  const width = 30;
  const fraction =
    progress.totalRecords > 0 ? Math.min(1, progress.records / progress.totalRecords) : 0;
  const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
  return (
    `live-sync [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${progress.records}/${progress.totalRecords} records, ` +
    `${(progress.bytes / 1e6).toFixed(1)} MB, ${progress.commits} transactions caught up`
  );
}

/** Progress on a terminal as a bar redrawn in place, with --json as events, otherwise nothing. */
export function progressReporter(
  json: boolean,
  say: (event: string, fields?: Record<string, unknown>) => void,
): (progress: JoinProgress) => void {
  const tty = !json && process.stdout.isTTY;
  let lastShown = 0;
  return (progress) => {
    const now = Date.now();
    if (progress.phase !== 'done' && now - lastShown < 200) return;
    lastShown = now;
    if (tty)
      process.stdout.write(`\r${progressLine(progress)}${progress.phase === 'done' ? '\n' : ''}`);
    else if (json) say('live-sync-progress', { ...progress });
  };
}

export interface JoinPlan {
  readonly id: NodeId;
  readonly svmk: Uint8Array;
  readonly domain: string;
  readonly listen: string;
  /** --join's member; without it, the first member discovery finds. */
  readonly donor?: DonorAddress;
  readonly discovery?: readonly string[];
}

/** Checks the flags and fixes the joining node's id (kept from an interrupted attempt). */
export function planJoin(options: NodeCommandOptions, discovery?: readonly string[]): JoinPlan {
  const donor = options.join === undefined ? undefined : parseDonor(options.join);
  // A directory that already was a node (an interrupted live-sync in place) keeps its SVMK and domain.
  const existing = existsSync(configPath(options.data)) ? readConfig(options.data) : undefined;
  const svmkFile = options.svmkFile ?? (existing ? svmkPath(options.data) : undefined);
  if (!svmkFile)
    throw new CliError(
      EXIT.USAGE,
      '--join needs --svmk-file FILE: a node joins a domain only with the pool SVMK',
    );
  const domain = options.domain ?? existing?.domain;
  if (!domain) throw new CliError(EXIT.USAGE, "--join needs --domain NAME (the pool's domain)");
  const listen = options.listen ?? existing?.listen;
  if (!listen)
    throw new CliError(
      EXIT.USAGE,
      '--join needs --listen HOST:PORT (where the pool will reach this node)',
    );
  splitAddress(listen);
  const svmk = readSvmkFile(svmkFile);
  mkdirSync(options.data, { recursive: true });
  const previous = readJoining(options.data);
  const id = previous?.id && previous.listen === listen ? previous.id : newNodeId();
  writeJoining(options.data, { id, listen });
  return { id, svmk, domain, listen, donor, discovery };
}

/**
 * Takes the pool image into `storage` on `server` (listening, clients refused meanwhile), then
 * writes node.json and drops joining.json. A fenced id (38502: an earlier attempt's node was
 * declared down) is replaced by a new one once.
 */
export async function runJoin(options: {
  readonly plan: JoinPlan;
  readonly data: string;
  readonly server: NodeServer;
  readonly storage: Storage;
  readonly newCore: () => Core;
  readonly onProgress: (progress: JoinProgress) => void;
  readonly say: (event: string, fields?: Record<string, unknown>) => void;
}): Promise<{ joined: Joined; config: NodeConfig }> {
  const { plan, server } = options;
  let id = plan.id;
  const joinFrom = (donor: DonorAddress): Promise<Joined> =>
    liveSyncJoin({
      id,
      address: server.address,
      domain: plan.domain,
      svmk: plan.svmk,
      donor,
      transport: server.peers,
      dial: (address) => dialPeerSocket(address),
      core: options.newCore(),
      storage: options.storage,
      randomBytes: (n) => new Uint8Array(randomBytes(n)),
      sha256: nodeSha256,
      onProgress: options.onProgress,
    });
  for (let attempt = 0; ; attempt++) {
    try {
      const joined = plan.donor
        ? await joinFrom(plan.donor)
        : await joinDiscovered(plan, server.address, joinFrom, options.say);
      const config: NodeConfig = {
        version: 1,
        id,
        domain: plan.domain,
        poolId: joined.poolId,
        listen: plan.listen,
        founders: joined.membership.founders,
      };
      writeNodeDirectory(options.data, config, plan.svmk);
      unlinkSync(joiningPath(options.data));
      return { joined, config };
    } catch (error) {
      if (error instanceof HsmError && error.code === CODE.NODE_FENCED && attempt === 0) {
        id = newNodeId();
        writeJoining(options.data, { id, listen: plan.listen });
        await server.peers.close();
        server.renamePeers(id);
        continue;
      }
      if (error instanceof HsmError)
        throw new CliError(
          error.code === CODE.SELF_LIVE_SYNC ? EXIT.UNREACHABLE : EXIT.FAILED,
          `live-sync failed: ${error.message}`,
        );
      throw error;
    }
  }
}

/**
 * A new node with discovery on: every DISCOVERY_PULSE_TICKS, probe the range; join from the
 * first node found that gives the image. It waits for as long as no member answers: with
 * discovery on, an empty node never founds a pool (the first node of a pool is started
 * without it), so two empty nodes cannot make two pools.
 */
async function joinDiscovered(
  plan: JoinPlan,
  self: string,
  joinFrom: (donor: DonorAddress) => Promise<Joined>,
  say: (event: string, fields?: Record<string, unknown>) => void,
): Promise<Joined> {
  let waiting = false;
  for (;;) {
    const addresses = (plan.discovery ?? []).filter(
      (address) => address !== self && address !== plan.listen,
    );
    for (const address of addresses) {
      const probed = await probePeer({
        address,
        localId: plan.id,
        svmk: plan.svmk,
        randomBytes: (n) => new Uint8Array(randomBytes(n)),
        dial: (a) => dialPeerSocket(a, DISCOVERY_PROBE_TIMEOUT_MS),
        timeoutMs: DISCOVERY_PROBE_TIMEOUT_MS,
      });
      if (probed.code !== 0) continue;
      try {
        return await joinFrom({ id: probed.id, address });
      } catch (error) {
        // Not a member to sync from (another joiner, another domain, busy): try the next one.
        if (error instanceof HsmError && error.code === CODE.NODE_FENCED) throw error;
        say('live-sync-refused', {
          donor: `${probed.id}@${address}`,
          code: error instanceof HsmError ? error.code : undefined,
          message: (error as Error).message,
        });
      }
    }
    if (!waiting)
      say('discovery-waiting', {
        addresses: addresses.length,
        message: 'no pool member answers yet; trying again every few seconds',
      });
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, DISCOVERY_PULSE_TICKS * TICK_MS));
  }
}

export function readJoining(dir: string): { id?: NodeId; listen?: string } | undefined {
  const path = joiningPath(dir);
  if (!existsSync(path)) return undefined;
  // The id an interrupted attempt used: the donor may have added it already, so guessing a new
  // one could leave a second, dead member. A damaged file is refused (38314), not ignored.
  let value: { id?: unknown; listen?: unknown } | null;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as { id?: unknown; listen?: unknown } | null;
  } catch (error) {
    throw metaDamaged(
      path,
      `not JSON (${(error as Error).message}); delete it to join under a new node id`,
    );
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    !isNodeId(value.id) ||
    typeof value.listen !== 'string'
  )
    throw metaDamaged(
      path,
      'not {"id": 16 hex digits, "listen": "HOST:PORT"}; delete it to join under a new node id',
    );
  return { id: value.id, listen: value.listen };
}

export function writeJoining(dir: string, value: { id: NodeId; listen: string }): void {
  const temporary = `${joiningPath(dir)}.tmp`;
  writeFileSync(temporary, JSON.stringify(value) + '\n');
  renameSync(temporary, joiningPath(dir));
}
