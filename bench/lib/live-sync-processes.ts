// One live-sync measurement for `bench:live-sync -- --processes`: what a user meets on one
// machine. Real `hsmpool node` processes (build/cli.js; run `npm run build` first) on
// 127.0.0.1, each its own process and data directory, talking over TCP:
//
//   1. a 3-node pool is created and started (test/processes.ts startPool);
//   2. it is given `keys` keys offline, because loading a million through client writes takes
//      many minutes: a backup of the pool as it stands (`hsmpool backup`: its administrator,
//      policy) is imported into a core, `keys` AES-256 key records are added to it (their
//      material wrapped under the pool's key-wrap key exactly as the service wraps it, so the
//      keys are usable), the result is written as a format-v2 backup under the pool's SVMK,
//      pool id and domain, and `hsmpool restore` puts it into each of the three stopped node
//      directories (the documented way to roll a whole pool to one state); the nodes restart
//      and must report the same Sync-Point;
//   3. a writer (an SDK client on node 2) keeps generating keys, one at a time, retrying busy
//      answers (36000);
//   4. a 4th process starts with `hsmpool node --join <node 1>` (fresh directory, the pool's
//      svmk.key and domain), timed from spawn to its `joined` and `ready` events; its --json
//      `live-sync-progress` events and `joined` give the bytes moved and the phases;
//   5. the writer stops, one more write goes through node 1, and then: the four nodes' SPs
//      (console `info`) must become equal, and every acknowledged key and a sample of the
//      loaded ones must be usable (encrypt) through a client connected to node 4 alone;
//   6. the offline route over the same state, in the same run: `hsmpool backup` of node 1 to
//      a file, then `hsmpool restore` of it into a fresh node directory, both as CLI processes
//      (what a user runs), timed from spawn to exit.

import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import {
  CLI,
  SOURCES_CLI,
  consoleJson,
  freeAddresses,
  killAll,
  patientClient,
  runCli,
  startNodeProcess,
  startPool,
  stop,
  until,
  type NodeProcess,
} from '../../test/processes.ts';
import { keyedCore } from '../../test/fixtures.ts';
import { NODE_V8_FLAGS, nodeProcessEnv } from '../../host/cli/node-flags.ts';
import { PROFILE_ARGS } from './profile.ts';
import { adminPasswordPath, nodeDir } from '../../host/cli/up-command.ts';
import { newNodeId, readConfig, readSvmk, writeNodeDirectory } from '../../host/cli/config.ts';
import { importBackupStream } from '../../host/backup/restore.ts';
import { encodeBackupStream } from '../../host/backup/format-v2.ts';
import { encodeBatch } from '../../host/core/batch.ts';
import { deriveKey } from '../../host/core/keys.ts';
import { CODE, HsmError } from '../../host/core/codes.ts';
import { keyBytes } from '../../host/wire/crypto-engine.ts';
import { NodeCryptoEngine } from '../../host/wire/crypto-engine.node.ts';
import { wrapObjectKey } from '../../host/wire/wrapping.ts';
import type { HsmClient } from '../../host/client/index.ts';
import { summariseFile } from './profile.ts';
import { quantile } from './stats.ts';

const DOMAIN = 'lsp';
const since = (start: number): number => (performance.now() - start) / 1000;
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));
const load = (): number[] => loadavg().map((x) => round(x, 2));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const loadedName = (i: number): string => `k${i.toString().padStart(7, '0')}`;

/** A CLI process run to its end, timed from spawn to exit; throws unless it exits 0. */
async function timedCli(args: readonly string[], password: string) {
  const start = performance.now();
  const run = await runCli(args, password);
  const seconds = since(start);
  if (run.code !== 0)
    throw new Error(`hsmpool ${args[0]} exited ${run.code}: ${run.out} ${run.err}`);
  return { seconds, json: run.json };
}

const syncPoint = async (address: string, password: string) =>
  (await consoleJson(address, password, 'info')).data.syncPoint as { hex: string; count: number };

/**
 * The pool's current state (a backup of node 1) plus `keys` AES-256 keys owned by admin,
 * written as a format-v2 backup to `out`. Returns the records and SP it holds.
 */
async function buildState(data: string, base: string, out: string, keys: number) {
  const dir = nodeDir(data, 0);
  const svmk = new Uint8Array(readSvmk(dir));
  const config = readConfig(dir);
  const poolId = BigInt(`0x${config.poolId}`);
  const core = keyedCore('release', svmk);
  await importBackupStream(core, new Uint8Array(readFileSync(base)), svmk, {
    poolId,
    domain: config.domain,
  });
  const engine = new NodeCryptoEngine();
  const wrapKey = keyBytes(new Uint8Array(deriveKey(svmk, 'key-wrap', 32)));
  const PER_BATCH = 100;
  for (let first = 0; first < keys; first += PER_BATCH) {
    const writes = [];
    for (let i = first; i < Math.min(keys, first + PER_BATCH); i++) {
      const name = loadedName(i);
      const wrapped = await wrapObjectKey(
        engine,
        wrapKey,
        name,
        'aes-256',
        new Uint8Array(randomBytes(32)),
        new Uint8Array(randomBytes(12)),
      );
      const record = core.encode({
        kind: 'object',
        name,
        keyType: 'aes-256',
        exportable: false,
        temporary: false,
        owner: 'admin',
        acl: [],
        wrapped,
      });
      writes.push({
        event: 'CREATE_OBJ' as const,
        operations: [{ op: 'insert' as const, record }],
      });
    }
    const result = core.apply(encodeBatch(writes));
    if (result.writeResults.some((code) => code !== 0))
      throw new Error(`building the state: write results ${result.writeResults.join(',')}`);
  }
  const sp = core.syncPoint();
  const fd = openSync(out, 'w', 0o600);
  let bytes = 0;
  try {
    for (const piece of encodeBackupStream(
      {
        poolId,
        domain: config.domain,
        createdMs: Date.now(),
        snapshot: core.snapshotPieces(),
        aead: engine.chacha,
      },
      svmk,
    )) {
      for (let at = 0; at < piece.length;) at += writeSync(fd, piece, at, piece.length - at);
      bytes += piece.length;
    }
  } finally {
    closeSync(fd);
  }
  return { records: sp.count, sp: sp.hex, bytes };
}

/** The writer: generateKey on one node, one at a time, retrying busy answers (36000). Each
 * acknowledged write keeps when it started and how long it took, retries included (ms, on
 * performance.now()), so the run can say how long the pool kept a write waiting during the join. */
export function startWriter(client: HsmClient, prefix = 'w') {
  const acknowledged: string[] = [];
  const timings: { startMs: number; ms: number }[] = [];
  const failures = new Map<number | string, number>();
  let busyRetries = 0;
  let writing = true;
  const done = (async () => {
    for (let i = 0; writing; i++) {
      const name = `${prefix}${i}`;
      const startMs = performance.now();
      for (;;) {
        try {
          await client.generateKey(name, 'aes-256');
          acknowledged.push(name);
          timings.push({ startMs, ms: performance.now() - startMs });
          break;
        } catch (error) {
          const code = error instanceof HsmError ? error.code : String(error);
          if (code === CODE.REPLICATION_BUSY && writing) {
            busyRetries++;
            continue;
          }
          failures.set(code, (failures.get(code) ?? 0) + 1);
          break;
        }
      }
    }
  })();
  return {
    acknowledged,
    timings,
    failures,
    busyRetries: () => busyRetries,
    stop: async (): Promise<void> => {
      writing = false;
      await done;
    },
  };
}

type TimedEvent = { event: string; at: number; [field: string]: unknown };

/** `hsmpool node ARGS --json`, keeping each event with the time it arrived (s since `start`). */
function spawnTimedNode(args: readonly string[], start: number, cli: readonly string[] = [CLI]) {
  const child: ChildProcess = spawn(
    process.execPath,
    [...NODE_V8_FLAGS, ...PROFILE_ARGS, ...cli, 'node', ...args, '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: nodeProcessEnv(),
    },
  );
  const events: TimedEvent[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const waiters: { event: string; resolve: (e: TimedEvent) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let parsed: { event: string };
    try {
      parsed = JSON.parse(line) as { event: string };
    } catch {
      return;
    }
    const event = { ...parsed, at: since(start) };
    events.push(event);
    for (const waiter of waiters.filter((w) => w.event === event.event)) waiter.resolve(event);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the joiner exited with ${code}: ${stderr}`))),
  );
  exited.catch(() => {});
  const waitFor = async (event: string, timeoutMs: number): Promise<TimedEvent> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<TimedEvent>((resolve) => {
          const seen = events.find((e) => e.event === event);
          if (seen) resolve(seen);
          else waiters.push({ event, resolve });
        }),
        exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the joiner: no ${event} in ${timeoutMs / 1000} s`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  return { child, events, waitFor };
}

/** The command line of a node process: build/cli.js, or with `profile` the sources under tsx
 * with a CPU profile written to `profile` when it exits (the summary names source files). */
const nodeCli = (profile?: string): string[] =>
  profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`, ...SOURCES_CLI] : [CLI];

/**
 * Steps 1 and 2: a 3-node pool of processes at `addresses` under `data`, given `keys` keys
 * offline (backup, build, restore into each stopped node), restarted (node i with
 * `nodeCliOf(i)`) and checked at one SP. The processes are pushed onto `running`.
 */
export async function startLoadedPool(
  data: string,
  addresses: readonly string[],
  keys: number,
  say: (line: string) => void,
  running: ChildProcess[],
  nodeCliOf: (index: number) => string[] = () => [CLI],
) {
  let start = performance.now();
  const pool = await startPool(data, DOMAIN, addresses);
  const { password } = pool;
  running.push(...pool.nodes);
  const poolStartSeconds = since(start);
  say(`pool of 3 processes up in ${poolStartSeconds.toFixed(1)} s`);

  // 2. The state, built offline and restored into the three stopped nodes.
  start = performance.now();
  const base = join(data, 'base.backup');
  const passwordFile = adminPasswordPath(data);
  await timedCli(
    [
      'backup',
      '--host',
      addresses[0],
      '--user',
      'admin',
      '--out',
      base,
      '--password-file',
      passwordFile,
    ],
    password,
  );
  for (const node of pool.nodes) await stop(node);
  const statePath = join(data, 'state.backup');
  const built = await buildState(data, base, statePath, keys);
  const buildSeconds = since(start);
  say(
    `state of ${built.records} records built offline in ${buildSeconds.toFixed(1)} s (${(built.bytes / 1e6).toFixed(1)} MB backup)`,
  );
  const seedRestoreSeconds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const args = ['restore', '--in', statePath, '--data', nodeDir(data, i), '--json'];
    const restored = await timedCli(args, password);
    if (restored.json?.sp !== built.sp)
      throw new Error(`restore into node ${i + 1}: SP ${restored.json?.sp}, built ${built.sp}`);
    seedRestoreSeconds.push(round(restored.seconds));
  }
  const restartSeconds: number[] = [];
  const nodes: NodeProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const cli = nodeCliOf(i);
    const args = ['--data', nodeDir(data, i)];
    const node = await startNodeProcess(args, ['ready'], `node ${i + 1}`, [
      ...PROFILE_ARGS,
      ...cli,
    ]);
    restartSeconds.push(round(since(started)));
    nodes.push(node);
    running.push(node);
  }
  const startSps = await Promise.all(addresses.map((address) => syncPoint(address, password)));
  if (new Set(startSps.map((sp) => sp.hex)).size !== 1 || startSps[0].hex !== built.sp)
    throw new Error(`the restored pool is not at one SP: ${JSON.stringify(startSps)}`);
  say(
    `restored into the 3 nodes (restore ${seedRestoreSeconds.join(', ')} s), restarted to ready in ${restartSeconds.join(', ')} s; SPs equal ${built.sp}`,
  );
  return {
    password,
    passwordFile,
    nodes,
    built,
    poolStartSeconds,
    buildSeconds,
    seedRestoreSeconds,
    restartSeconds,
  };
}

/** `options.profile`: node 1 (the donor) and the joiner run from the sources with a CPU
 * profile each, node 1 is stopped before the offline route, which then backs up node 3. */
export async function liveSyncProcessesRun(
  keys: number,
  say: (line: string) => void,
  options: { profile?: boolean } = {},
) {
  const loadBefore = load();
  const data = mkdtempSync(join(tmpdir(), 'hsmpool-lsp-'));
  const profiles = options.profile ? mkdtempSync(join(tmpdir(), `live-sync-${keys}-`)) : undefined;
  const running: ChildProcess[] = [];
  try {
    const [a, b, c, d, e] = await freeAddresses(5);
    const loaded = await startLoadedPool(data, [a, b, c], keys, say, running, (i) =>
      nodeCli(i === 0 && profiles ? join(profiles, 'donor') : undefined),
    );
    const { password, passwordFile, nodes, built } = loaded;
    const { poolStartSeconds, buildSeconds, seedRestoreSeconds, restartSeconds } = loaded;
    let start = performance.now();

    // 3. The writer, on node 2.
    const writerClient = await patientClient(b, 'admin', password);
    const writer = startWriter(writerClient);
    await sleep(1000);
    const beforeJoin = writer.acknowledged.length;

    // 4. The join.
    const joinDir = join(data, 'node-4');
    const svmkFile = join(nodeDir(data, 0), 'svmk.key');
    const loadAtJoin = load();
    start = performance.now();
    const joiner = spawnTimedNode(
      ['--data', joinDir, '--listen', d, '--join', a, '--svmk-file', svmkFile, '--domain', DOMAIN],
      start,
      nodeCli(profiles && join(profiles, 'joiner')),
    );
    running.push(joiner.child);
    const timeoutMs = Math.max(120_000, keys * 0.6);
    const joined = await joiner.waitFor('joined', timeoutMs);
    const ready = await joiner.waitFor('ready', timeoutMs);
    const progress = joiner.events.filter((event) => event.event === 'live-sync-progress');
    const firstAt = (phase: string) => progress.find((p) => p.phase === phase)?.at;
    const phases = {
      liveSyncEvent: joiner.events.find((event) => event.event === 'live-sync')?.at,
      firstSnapshotProgress: firstAt('snapshot'),
      firstCatchUpProgress: firstAt('catch-up'),
      done: firstAt('done'),
      joined: joined.at,
      ready: ready.at,
    };
    const bytes = Number(joined.bytes);
    say(`joiner: ${JSON.stringify(phases)}`);

    // 5. Writes go on with the new member, then stop; the checks.
    await sleep(1000);
    await writer.stop();
    const duringJoin = writer.acknowledged.length - beforeJoin;
    // The writes that started from the joiner's spawn on: their longest wait and its start.
    const joinWrites = writer.timings.filter((t) => t.startMs >= start);
    const longest = joinWrites.reduce((a, t) => (t.ms > a.ms ? t : a), { startMs: start, ms: 0 });
    const joinWriteMs = joinWrites.map((t) => t.ms).sort((x, y) => x - y);
    const firstClient = await patientClient(a, 'admin', password);
    await firstClient.generateKey('after-join', 'aes-256');
    const addresses = [a, b, c, d];
    let sps: { hex: string; count: number }[] = [];
    await until('the four SPs equal', async () => {
      sps = await Promise.all(addresses.map((address) => syncPoint(address, password)));
      return new Set(sps.map((sp) => sp.hex)).size === 1;
    }).catch(() => {});
    const syncPointsEqual = new Set(sps.map((sp) => sp.hex)).size === 1;
    const onJoiner = await patientClient(d, 'admin', password);
    const sample = Array.from({ length: 20 }, (_, i) => loadedName(Math.floor((i * keys) / 20)));
    const checked = [...writer.acknowledged, 'after-join', ...sample];
    const plaintext = new TextEncoder().encode('live-sync bench');
    let missing = 0;
    for (const name of checked) {
      try {
        await onJoiner.encrypt(name, plaintext);
      } catch (error) {
        missing++;
        if (missing <= 3) say(`on the joiner, ${name}: ${(error as Error).message}`);
      }
    }
    onJoiner.close();
    firstClient.close();
    writerClient.close();
    say(
      `SPs of the 4 nodes equal: ${syncPointsEqual} (${sps.map((sp) => sp.count).join('/')} records); ` +
        `${checked.length - missing}/${checked.length} keys usable on node 4`,
    );

    if (profiles) {
      await stop(joiner.child);
      await stop(nodes[0]);
      for (const who of ['donor', 'joiner']) {
        // The main thread's profile: the first file (tsx's loader thread writes a second).
        const [main] = readdirSync(join(profiles, who)).sort();
        say(`${who}'s CPU profile, its whole process:`);
        summariseFile(join(profiles, who, main));
      }
    }

    // 6. The offline route, same state, same run: CLI processes, spawn to exit.
    const loadAtBackup = load();
    const backupFile = join(data, 'anchor.backup');
    const backup = await timedCli(
      [
        'backup',
        '--host',
        profiles ? c : a,
        '--user',
        'admin',
        '--out',
        backupFile,
        '--password-file',
        passwordFile,
        '--json',
      ],
      password,
    );
    const config = readConfig(nodeDir(data, 0));
    const freshDir = join(data, 'restored');
    writeNodeDirectory(
      freshDir,
      { ...config, id: newNodeId(), listen: e },
      readSvmk(nodeDir(data, 0)),
    );
    const restore = await timedCli(
      ['restore', '--in', backupFile, '--data', freshDir, '--json'],
      password,
    );
    const cliStart = performance.now();
    await runCli(['--help'], password);
    const cliStartSeconds = since(cliStart);

    for (const child of running.reverse()) await stop(child);
    const mb = bytes / 1e6;
    const joinedSeconds = joined.at;
    const readySeconds = ready.at;
    const transferSeconds =
      phases.done !== undefined && phases.liveSyncEvent !== undefined
        ? phases.done - phases.liveSyncEvent
        : undefined;
    const offlineSeconds = backup.seconds + restore.seconds;
    const ok =
      syncPointsEqual &&
      missing === 0 &&
      writer.failures.size === 0 &&
      restore.json?.sp === backup.json?.sp;
    return {
      keys,
      records: built.records,
      liveSync: {
        seconds: round(readySeconds),
        joinedSeconds: round(joinedSeconds),
        mbPerSecond: round(mb / readySeconds, 2),
        joinedMbPerSecond: round(mb / joinedSeconds, 2),
        transferSeconds: transferSeconds === undefined ? undefined : round(transferSeconds),
        transferMbPerSecond:
          transferSeconds === undefined ? undefined : round(mb / transferSeconds, 2),
        snapshotBytes: bytes,
        records: Number(joined.records),
        catchUpTransactions: Number(joined.transactions),
        phases: Object.fromEntries(
          Object.entries(phases).map(([k, v]) => [k, v === undefined ? v : round(v)]),
        ),
        progressEvents: progress.length,
      },
      backupRestore: {
        seconds: round(offlineSeconds),
        backupSeconds: round(backup.seconds),
        restoreSeconds: round(restore.seconds),
        bytes: Number(backup.json?.bytes),
        records: Number(restore.json?.records),
        mbPerSecond: round(Number(backup.json?.bytes) / 1e6 / offlineSeconds, 2),
        cliProcesses: true,
        cliStartSeconds: round(cliStartSeconds),
        offline: true,
      },
      liveSyncOverBackupRestore: round(offlineSeconds / readySeconds, 2),
      writer: {
        acknowledged: writer.acknowledged.length,
        acknowledgedDuringJoin: duringJoin,
        /** Writes started from the joiner's spawn to 1 s after ready: median and longest (ms),
         * and when the longest started (s from spawn, the phases' clock). */
        joinWriteMedianMs: joinWriteMs.length === 0 ? 0 : round(quantile(joinWriteMs, 0.5), 2),
        joinWriteLongestMs: round(longest.ms, 1),
        joinWriteLongestStartedAt: round((longest.startMs - start) / 1000),
        busyRetries: writer.busyRetries(),
        failures: Object.fromEntries(writer.failures),
      },
      syncPointsEqual,
      keysChecked: checked.length,
      keysMissingOnJoiner: missing,
      ok,
      /** Node 1 and the joiner ran from the sources under a CPU profiler; the backup, of node 3. */
      profiled: profiles !== undefined,
      setup: {
        poolStartSeconds: round(poolStartSeconds, 1),
        buildSeconds: round(buildSeconds, 1),
        seedRestoreSeconds,
        restartSeconds,
      },
      loadavg: { before: loadBefore, atJoin: loadAtJoin, atBackup: loadAtBackup, after: load() },
    };
  } finally {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    killAll();
    rmSync(data, { recursive: true, force: true });
  }
}
