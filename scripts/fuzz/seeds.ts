// Writes the seed corpus: small valid inputs for each fuzz target, made with the Core API so
// they are exactly what the host produces. Run: npx tsx scripts/fuzz/seeds.ts
// Rewrites test/corpus/<target>/seed-*.bin only; crashers (crash-*) and other files stay.
// Deterministic: the same build gives the same files.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBatch, type Write } from '../../host/core/batch.ts';
import type { Core } from '../../host/core/core.ts';
import type { ObjectRecord, UserRecord } from '../../host/core/records.ts';
import { sampleBytes, sampleObject, samplePolicy, sampleUser } from '../../test/fixtures.ts';
import { LogEncoder, type EntryBody, type PoolNode } from '../../host/core/txlog.ts';
import { newCore } from '../../host/core/load.node.ts';
import { FUZZ_POOL_ID, FUZZ_SP_KEY, replay, snapshotInput, type TargetName } from './targets.ts';

const CORPUS = fileURLToPath(new URL('../../test/corpus/', import.meta.url));

const bytes = sampleBytes;
const user = (name: string, seed: number, extra: Partial<UserRecord> = {}): UserRecord => ({
  ...sampleUser(name, seed),
  ...extra,
});
const object = (
  name: string,
  owner: string,
  seed: number,
  extra: Partial<ObjectRecord> = {},
): ObjectRecord => ({ ...sampleObject(name, owner, 60, seed), ...extra });
const policy = samplePolicy;

function keyedCore(): Core {
  const core = newCore('release');
  core.setKey(FUZZ_SP_KEY);
  return core;
}

function recordSeeds(core: Core): Record<string, Uint8Array> {
  return {
    'user-scrypt': core.encode(user('alice', 1)),
    'user-pbkdf2-admin': core.encode(
      user('root.admin@pool', 2, {
        admin: true,
        failedLogins: 3,
        kdf: { kdf: 'pbkdf2-sha256', iterations: 600_000 },
        salt: bytes(64, 2),
      }),
    ),
    'object-aes': core.encode(object('key1', 'alice', 3)),
    'object-acl': core.encode(
      object('signer-2', 'alice', 4, {
        keyType: 'ec-p256',
        exportable: true,
        acl: [
          { user: 'bob', use: true, export: false, remove: false },
          { user: 'carol_9', use: true, export: true, remove: true },
        ],
      }),
    ),
    'object-rsa': core.encode(
      object('rsa.big', 'bob', 5, { keyType: 'rsa-2048', wrapped: bytes(1232, 5) }),
    ),
    'object-temporary': core.encode(
      object('session-key', 'alice', 6, { temporary: true, keyType: 'hmac-sha256' }),
    ),
    policy: core.encode(policy),
  };
}

function batchSeeds(core: Core): Record<string, Uint8Array> {
  const alice = core.encode(user('alice', 1));
  const aliceLocked = core.encode(user('alice', 1, { failedLogins: 5 }));
  const key1 = core.encode(object('key1', 'alice', 3));
  const key1Shared = core.encode(
    object('key1', 'alice', 3, { acl: [{ user: 'bob', use: true, export: false, remove: false }] }),
  );
  const bob = core.encode(user('bob', 7));
  const writes = (...list: Write[]): Uint8Array => encodeBatch(list);
  return {
    'insert-user': writes({ event: 'CREATE_USR', operations: [{ op: 'insert', record: alice }] }),
    'insert-replace-delete': writes(
      { event: 'CREATE_USR', operations: [{ op: 'insert', record: alice }] },
      { event: 'CREATE_OBJ', operations: [{ op: 'insert', record: key1 }] },
      { event: 'SET_USR_LOCK_COUNT', operations: [{ op: 'replace', record: aliceLocked }] },
      { event: 'ACL_UPDATE', operations: [{ op: 'replace', record: key1Shared }] },
      { event: 'DELETE_OBJ', operations: [{ op: 'delete', kind: 'object', name: 'key1' }] },
    ),
    'group-commit-with-failures': writes(
      { event: 'CREATE_USR', operations: [{ op: 'insert', record: alice }] },
      { event: 'CREATE_USR', operations: [{ op: 'insert', record: alice }] },
      { event: 'DELETE_USR', operations: [{ op: 'delete', kind: 'user', name: 'nobody' }] },
      { event: 'CREATE_USR', operations: [{ op: 'insert', record: bob }] },
    ),
    'atomic-write-undone': writes(
      {
        event: 'CREATE_USR',
        operations: [
          { op: 'insert', record: bob },
          { op: 'insert', record: key1 },
          { op: 'replace', record: alice },
        ],
      },
      {
        event: 'GLOBAL_SECURITY_POLICY',
        operations: [{ op: 'insert', record: core.encode(policy) }],
      },
    ),
    'policy-replace': writes(
      {
        event: 'GLOBAL_SECURITY_POLICY',
        operations: [{ op: 'insert', record: core.encode(policy) }],
      },
      {
        event: 'GLOBAL_SECURITY_POLICY',
        operations: [
          {
            op: 'replace',
            record: core.encode({ ...policy, maxFailedLogins: 9, keyExportAllowed: false }),
          },
        ],
      },
      { event: 'DELETE_USR', operations: [{ op: 'delete', kind: 'policy', name: 'pool' }] },
    ),
  };
}

/** Splits a run of snapshot frames into chunks of `framesPerChunk` frames. */
function splitFrames(frames: Uint8Array, framesPerChunk: number): Uint8Array[] {
  const view = new DataView(frames.buffer, frames.byteOffset, frames.byteLength);
  const chunks: Uint8Array[] = [];
  let start = 0;
  let at = 0;
  let inChunk = 0;
  while (at < frames.length) {
    at += 4 + view.getUint32(at, true);
    inChunk++;
    if (inChunk === framesPerChunk || at === frames.length) {
      chunks.push(frames.subarray(start, at));
      start = at;
      inChunk = 0;
    }
  }
  return chunks;
}

function snapshotOf(records: Uint8Array[], framesPerChunk: number): Uint8Array {
  const core = keyedCore();
  if (records.length > 0)
    core.apply(
      encodeBatch([
        {
          event: 'CREATE_OBJ',
          operations: records.map((record) => ({ op: 'insert' as const, record })),
        },
      ]),
    );
  const [header, ...chunks] = core.snapshotChunks();
  return snapshotInput(header, splitFrames(Buffer.concat(chunks), framesPerChunk));
}

function snapshotSeeds(core: Core): Record<string, Uint8Array> {
  const users = ['alice', 'bob', 'carol', 'dave'].map((name, i) => core.encode(user(name, 10 + i)));
  const objects = ['k1', 'k2', 'signer'].map((name, i) =>
    core.encode(object(name, 'alice', 20 + i)),
  );
  return {
    empty: snapshotOf([], 1),
    'one-record': snapshotOf([users[0]], 1),
    'three-kinds-one-chunk': snapshotOf([users[0], objects[0], core.encode(policy)], 16),
    'frame-per-chunk': snapshotOf([...users, ...objects], 1),
    'three-chunks': snapshotOf([...users, ...objects, core.encode(policy)], 3),
  };
}

const NODES: PoolNode[] = [
  { id: 1n, address: '10.0.0.1:4433' },
  { id: 2n, address: '10.0.0.2:4433' },
  { id: 3n, address: 'hsm-3.pool.example:4433' },
];

/** A log entry seed: its body, and the transaction id and epoch its header needs. */
interface LogBody {
  readonly name: string;
  readonly body: EntryBody;
  readonly transactionId?: bigint;
  readonly epoch?: bigint;
}

/** One entry of every type, with the transaction ids they need, in chain order. */
function logBodies(core: Core): LogBody[] {
  return [
    { name: 'node-added', body: { type: 'node-added', node: NODES[2] } },
    ...transactionBodies(core),
    { name: 'node-down', body: { type: 'node-down', nodeId: 3n } },
    { name: 'epoch-raised', body: { type: 'epoch-raised', epoch: 2n } },
    {
      name: 'commit-terminated',
      transactionId: 0x102n,
      epoch: 2n,
      body: { type: 'commit', spAfter: 0x5555n, spvvAfter: 0x66, terminated: true },
    },
    {
      name: 'checkpoint',
      epoch: 2n,
      body: {
        type: 'checkpoint',
        snapshotSequence: 8n,
        sp: 0x5555n,
        spvv: 0x66,
        recordCount: 2n,
        snapshotName: 'snap-00000008.hsps',
        nodes: NODES.slice(0, 2),
      },
    },
  ];
}

/** Two transactions of the first epoch: one prepared and committed, one prepared and aborted. */
function transactionBodies(core: Core): LogBody[] {
  const batch = encodeBatch([
    {
      event: 'CREATE_USR',
      operations: [{ op: 'insert', record: core.encode(user('alice', 1)) }],
      requestId: bytes(16, 9),
    },
    {
      event: 'CREATE_OBJ',
      operations: [{ op: 'insert', record: core.encode(object('key1', 'alice', 3)) }],
    },
  ]);
  return [
    {
      name: 'prepare',
      transactionId: 0x100n,
      body: {
        type: 'prepare',
        coordinator: 1n,
        participants: [2n, 3n],
        nodes: NODES,
        spBefore: 0x1111n,
        spvvBefore: 0x22,
        spAfter: 0x3333n,
        spvvAfter: 0x44,
        createdTick: 77n,
        event: 2,
        sourceUser: 'root',
        targetName: 'alice',
        batch,
      },
    },
    {
      name: 'commit',
      transactionId: 0x100n,
      body: { type: 'commit', spAfter: 0x3333n, spvvAfter: 0x44 },
    },
    {
      name: 'prepare-small',
      transactionId: 0x101n,
      body: {
        type: 'prepare',
        coordinator: 2n,
        participants: [],
        nodes: [],
        spBefore: 0x3333n,
        spvvBefore: 0x44,
        spAfter: 0x5555n,
        spvvAfter: 0x66,
        createdTick: 78n,
        event: 3,
        sourceUser: '',
        targetName: '',
        batch: encodeBatch([
          { event: 'DELETE_USR', operations: [{ op: 'delete', kind: 'user', name: 'alice' }] },
        ]),
      },
    },
    { name: 'abort', transactionId: 0x101n, body: { type: 'abort', reason: 5 } },
  ];
}

/** The entries of one valid log, each as its bytes. */
function logEntries(core: Core): { name: string; bytes: Uint8Array }[] {
  const encoder = new LogEncoder(core, FUZZ_POOL_ID);
  return logBodies(core).map(({ name, body, transactionId, epoch }) => ({
    name,
    bytes: encoder.encode(body, { transactionId, epoch }),
  }));
}

function logEntrySeeds(core: Core): Record<string, Uint8Array> {
  return Object.fromEntries(logEntries(core).map(({ name, bytes }) => [name, bytes]));
}

function logScanSeeds(core: Core): Record<string, Uint8Array> {
  const entries = logEntries(core).map((entry) => entry.bytes);
  const whole = Buffer.concat(entries);
  const two = Buffer.concat(entries.slice(0, 2));
  return {
    empty: new Uint8Array(0),
    'one-entry': entries[0],
    'two-entries': two,
    'all-types': whole,
    'torn-tail': whole.subarray(0, whole.length - 7),
    'torn-header': Buffer.concat([two, entries[2].subarray(0, 50)]),
  };
}

const GENERATORS: Record<TargetName, (core: Core) => Record<string, Uint8Array>> = {
  record: recordSeeds,
  batch: batchSeeds,
  snapshot: snapshotSeeds,
  log_entry: logEntrySeeds,
  log_entry_fixed: logEntrySeeds,
  log_scan: logScanSeeds,
  log_scan_fixed: logScanSeeds,
};

function main(): void {
  const core = keyedCore();
  for (const [target, generate] of Object.entries(GENERATORS) as [
    TargetName,
    (core: Core) => Record<string, Uint8Array>,
  ][]) {
    const directory = join(CORPUS, target);
    mkdirSync(directory, { recursive: true });
    for (const file of readdirSync(directory))
      if (file.startsWith('seed-')) rmSync(join(directory, file));
    for (const [name, input] of Object.entries(generate(core))) {
      // A seed must be accepted end to end: that is what makes it a good starting point.
      const result = replay(core, target, input);
      const refused = result.calls.find((call) => call.code !== 0);
      if (result.problems.length > 0 || refused)
        throw new Error(
          `seed ${target}/${name}: ${result.problems.join('; ') || `${refused!.entryPoint} returned ${refused!.code}`}`,
        );
      writeFileSync(join(directory, `seed-${name}.bin`), input);
      console.log(`${target}/seed-${name}.bin  ${input.length} bytes`);
    }
  }
}

main();
