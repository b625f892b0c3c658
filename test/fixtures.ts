// Shared test fixtures: deterministic sample records and fast-check arbitraries of valid ones.

import fc from 'fast-check';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import {
  KEY_TYPES,
  type ObjectRecord,
  type PolicyRecord,
  type StoreRecord,
  type UserRecord,
} from '../host/core/records.ts';
import { newCore, type CoreVariant } from '../host/core/load.node.ts';
import type { Core } from '../host/core/core.ts';
import { HsmError } from '../host/core/codes.ts';
import { encodeBatch } from '../host/core/batch.ts';
import type { MemoryStorage } from '../host/storage/memory.ts';

export const TEST_SVMK = Uint8Array.from({ length: 32 }, (_, i) => i);

/** A fresh keyed core. */
export function keyedCore(variant: CoreVariant = 'release', svmk = TEST_SVMK): Core {
  const core = newCore(variant);
  core.setKey(deriveSyncPointKey(svmk));
  return core;
}

/** A core keyed by `svmk` holding the user alice and `count` objects key{first}… of hers,
 * written in batches of 100, outside any pool. */
let codec: Core | undefined;
export function filledCore(count: number, { svmk = TEST_SVMK, first = 0 } = {}): Core {
  const encoder = (codec ??= keyedCore());
  const core = keyedCore('release', svmk);
  const records = [
    encoder.encode(sampleUser('alice')),
    ...Array.from({ length: count }, (_, i) =>
      encoder.encode(sampleObject(`key${first + i}`, 'alice', 60, i + 1)),
    ),
  ];
  for (let i = 0; i < records.length; i += 100)
    core.apply(
      encodeBatch(
        records.slice(i, i + 100).map((record) => ({
          event: 'CREATE_OBJ' as const,
          operations: [{ op: 'insert' as const, record }],
        })),
      ),
    );
  return core;
}

/** Everything a storage holds (log and snapshots, as hex), to check that a refusal wrote nothing. */
export async function storageContents(storage: MemoryStorage): Promise<string> {
  const names = (await storage.listSnapshots()).sort();
  const snapshots = await Promise.all(
    names.map(async (name) => `${name}:${toHex((await storage.readSnapshot(name))!)}`),
  );
  return [toHex(await storage.readLog()), ...snapshots].join('|');
}

/** `length` deterministic bytes drawn from `seed`. */
export const sampleBytes = (length: number, seed: number): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 17 + 1) & 0xff);

export function sampleUser(name = 'alice', seed = 1): UserRecord {
  return {
    kind: 'user',
    name,
    admin: false,
    failedLogins: 0,
    kdf: { kdf: 'scrypt', log2N: 15, r: 8, p: 1 },
    salt: sampleBytes(16, seed),
    storedKey: sampleBytes(32, seed + 1),
    serverKey: sampleBytes(32, seed + 2),
  };
}

export function sampleObject(
  name = 'key1',
  owner = 'alice',
  wrappedLength = 60,
  seed = 1,
): ObjectRecord {
  return {
    kind: 'object',
    name,
    keyType: 'aes-256',
    exportable: false,
    temporary: false,
    owner,
    acl: [],
    wrapped: sampleBytes(wrappedLength, seed),
  };
}

export const samplePolicy: PolicyRecord = {
  kind: 'policy',
  name: 'pool',
  minPasswordLength: 8,
  maxFailedLogins: 5,
  keyExportAllowed: true,
  sessionTimeoutSeconds: 900,
};

const NAME_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-';
export const nameArbitrary = fc.string({
  unit: fc.constantFrom(...NAME_CHARS),
  minLength: 1,
  maxLength: 32,
});

export const userArbitrary: fc.Arbitrary<UserRecord> = fc.record({
  kind: fc.constant('user' as const),
  name: nameArbitrary,
  admin: fc.boolean(),
  failedLogins: fc.integer({ min: 0, max: 255 }),
  kdf: fc.oneof(
    fc.record({
      kdf: fc.constant('scrypt' as const),
      log2N: fc.integer({ min: 1, max: 22 }),
      r: fc.integer({ min: 1, max: 32 }),
      p: fc.integer({ min: 1, max: 16 }),
    }),
    fc.record({
      kdf: fc.constant('pbkdf2-sha256' as const),
      iterations: fc.integer({ min: 1, max: 10_000_000 }),
    }),
  ),
  salt: fc.uint8Array({ minLength: 16, maxLength: 64 }),
  storedKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  serverKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});

export const objectArbitrary: fc.Arbitrary<ObjectRecord> = fc
  .record({
    kind: fc.constant('object' as const),
    name: nameArbitrary,
    keyType: fc.constantFrom(...KEY_TYPES),
    exportable: fc.boolean(),
    temporary: fc.constant(false),
    owner: nameArbitrary,
    acl: fc.uniqueArray(
      fc
        .record({
          user: nameArbitrary,
          use: fc.boolean(),
          export: fc.boolean(),
          remove: fc.boolean(),
        })
        .filter((e) => e.use || e.export || e.remove),
      { selector: (entry) => entry.user, maxLength: 16 },
    ),
    wrapped: fc.uint8Array({ minLength: 1, maxLength: 600 }),
  })
  .map((object) => ({ ...object, acl: object.acl.filter((entry) => entry.user !== object.owner) }));

export const policyArbitrary: fc.Arbitrary<PolicyRecord> = fc.record({
  kind: fc.constant('policy' as const),
  name: fc.constant('pool' as const),
  minPasswordLength: fc.integer({ min: 4, max: 64 }),
  maxFailedLogins: fc.integer({ min: 1, max: 255 }),
  keyExportAllowed: fc.boolean(),
  sessionTimeoutSeconds: fc.integer({ min: 1, max: 604800 }),
});

export const recordArbitrary: fc.Arbitrary<StoreRecord> = fc.oneof(
  userArbitrary,
  objectArbitrary,
  policyArbitrary,
);

export const toHex = (data: Uint8Array): string => Buffer.from(data).toString('hex');
export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

/** The code of the HsmError `run` throws; undefined if it returns, -1 if it throws anything else. */
export function thrownCode(run: () => unknown): number | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof HsmError ? error.code : -1;
  }
  return undefined;
}

/** What `promise` rejects with, or undefined if it fulfils. */
export function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** The code of the HsmError `promise` rejects with; undefined if it fulfils or fails otherwise. */
export async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  const error = await rejection(promise);
  return error instanceof HsmError ? error.code : undefined;
}
