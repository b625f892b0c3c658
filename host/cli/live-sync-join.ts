// `hsmpool node --join ID@HOST:PORT` for a new data directory (Node only): listen, take the
// pool image from the donor by live-sync with a progress line, then write node.json so the
// directory is a member's and `hsmpool node` runs it as usual. An interrupted attempt leaves
// no node.json: running the command again starts over from nothing.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HsmError } from '../core/codes.ts';
import { deriveSyncPointKey } from '../core/keys.ts';
import { newCore } from '../node/core-file.ts';
import { FileStorage } from '../storage/file.ts';
import { startNodeServer } from '../transport/ws-node.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { lockDirectory, newId, writeNodeDirectory } from './config.ts';
import { splitAddress, type NodeCommandOptions } from './node-command.ts';
import { liveSyncJoin, type JoinProgress } from '../appliance/live-sync.ts';
import { dialPeerSocket } from '../node/live-sync-dial.ts';

function parseDonor(join: string): { id: string; address: string } {
  const at = join.indexOf('@');
  if (at < 0) {
    throw new CliError(EXIT.USAGE, `--join ${join}: name the donor as ID@HOST:PORT (its node id is on its ready line and in the console's info)`);
  }
  const id = join.slice(0, at);
  const address = join.slice(at + 1);
  if (!/^[0-9a-f]{16}$/.test(id)) throw new CliError(EXIT.USAGE, `--join: ${id} is not a node id (16 lowercase hex digits)`);
  splitAddress(address);
  return { id, address };
}

function progressLine(progress: JoinProgress): string {
  const width = 30;
  const fraction = progress.totalRecords > 0 ? Math.min(1, progress.records / progress.totalRecords) : 0;
  const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
  return `live-sync [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${progress.records}/${progress.totalRecords} records, `
    + `${(progress.bytes / 1e6).toFixed(1)} MB, ${progress.commits} transactions caught up`;
}

export async function joinNewNode(options: NodeCommandOptions): Promise<void> {
  const donor = parseDonor(options.join!);
  if (!options.svmkFile) throw new CliError(EXIT.USAGE, '--join needs --svmk-file FILE: a node joins a domain only with the pool SVMK');
  if (!options.domain) throw new CliError(EXIT.USAGE, '--join needs --domain NAME (the pool\'s domain)');
  if (!options.listen) throw new CliError(EXIT.USAGE, '--join needs --listen HOST:PORT (where the pool will reach this node)');
  let svmk: Uint8Array;
  try {
    svmk = new Uint8Array(readFileSync(options.svmkFile));
  } catch (error) {
    throw new CliError(EXIT.DATA, `${options.svmkFile}: ${(error as Error).message}`);
  }
  if (svmk.length !== 32) throw new CliError(EXIT.DATA, `${options.svmkFile}: expected 32 bytes, found ${svmk.length}`);
  const listen = splitAddress(options.listen);
  mkdirSync(options.data, { recursive: true });
  const release = lockDirectory(options.data);
  // The id and address survive an interrupted attempt: if the donor added this node before the
  // attempt died, the retry is the same member coming back, not a second, silent one.
  const joiningPath = join(options.data, 'joining.json');
  const previous = existsSync(joiningPath) ? (JSON.parse(readFileSync(joiningPath, 'utf8')) as { id?: string; listen?: string }) : {};
  const id = previous.id && /^[0-9a-f]{16}$/.test(previous.id) && previous.listen === options.listen ? previous.id : newId();
  writeFileSync(joiningPath, JSON.stringify({ id, listen: options.listen }) + '\n');
  const say = (event: string, fields: Record<string, unknown> = {}): void => {
    if (options.json) console.log(JSON.stringify({ event, node: id, ...fields }));
    else console.log(`[${id}] ${event}${Object.keys(fields).length ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : ''}`);
  };
  const tty = !options.json && process.stdout.isTTY;
  let storage: FileStorage | undefined;
  let server: Awaited<ReturnType<typeof startNodeServer>> | undefined;
  try {
    storage = await FileStorage.open(options.data);
    const core = newCore();
    core.setKey(deriveSyncPointKey(svmk));
    // No client is served before the join completes (37033 could not arise here).
    server = await startNodeServer({
      host: listen.host, port: listen.port, nodeId: id, svmk,
      onClientConnection: (_path, connection) => connection.close(1013, 'joining the pool'),
    });
    say('live-sync', { donor: `${donor.id}@${donor.address}`, address: server.address });
    let lastShown = 0;
    const joined = await liveSyncJoin({
      id, address: server.address, domain: options.domain, svmk, donor, transport: server.peers, dial: (address) => dialPeerSocket(address),
      core, storage, randomBytes: (n) => new Uint8Array(randomBytes(n)),
      onProgress: (progress) => {
        const now = Date.now();
        if (progress.phase !== 'done' && now - lastShown < 200) return;
        lastShown = now;
        if (tty) process.stdout.write(`\r${progressLine(progress)}${progress.phase === 'done' ? '\n' : ''}`);
        else if (options.json) say('live-sync-progress', { ...progress });
      },
    });
    writeNodeDirectory(options.data, {
      version: 1, id, domain: options.domain, poolId: joined.poolId, listen: server.address, founders: joined.membership.founders,
    }, svmk);
    unlinkSync(joiningPath);
    say('joined', { sp: joined.syncPoint.hex, records: joined.records, bytes: joined.bytes, transactions: joined.commits });
  } catch (error) {
    if (tty) process.stdout.write('\n');
    if (error instanceof HsmError) throw new CliError(error.code === 37034 ? EXIT.UNREACHABLE : EXIT.FAILED, `live-sync failed: ${error.message}`);
    throw error;
  } finally {
    await server?.close({ graceMs: 0 });
    await storage?.close?.();
    release();
  }
}
