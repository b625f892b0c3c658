// Writes test/vectors/{records,sync-point,checksum}.json from the reference implementation
// (test/reference/sync-point.ts) and the core's encoder. Run once when a format is born;
// afterwards the stability tests fail if any vector changes. Usage: npx tsx scripts/make-vectors.ts

import { writeFileSync } from 'node:fs';
import { encodeBatch } from '../host/core/batch.ts';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import type { StoreRecord } from '../host/core/records.ts';
import {
  TEST_SVMK,
  keyedCore,
  samplePolicy,
  sampleObject,
  sampleUser,
  toHex,
} from '../test/fixtures.ts';
import * as ref from '../test/reference/sync-point.ts';
import { CODE } from '../host/core/codes.ts';
import { toHex64 } from '../host/wire/bytes.ts';

const core = keyedCore();
const records: StoreRecord[] = [
  sampleUser('alice', 1),
  {
    ...sampleUser('root', 2),
    admin: true,
    failedLogins: 3,
    kdf: { kdf: 'pbkdf2-sha256', iterations: 600000 },
  },
  sampleObject('key1', 'alice', 60, 1),
  {
    ...sampleObject('signing-key.P256', 'alice', 121, 2),
    keyType: 'ec-p256',
    exportable: true,
    acl: [
      { user: 'bob', use: true, export: false, remove: false },
      { user: 'carol', use: true, export: true, remove: true },
    ],
  },
  { ...sampleObject('rsa@2048', 'bob', 1250, 3), keyType: 'rsa-2048' },
  samplePolicy,
];
const encoded = records.map((record) => core.encode(record));
const show = (record: StoreRecord): unknown =>
  JSON.parse(
    JSON.stringify(record, (_key, value) => (value instanceof Uint8Array ? toHex(value) : value)),
  );
writeFileSync(
  'test/vectors/records.json',
  JSON.stringify(
    {
      description:
        'Canonical key-store record encodings (docs/FORMATS.md). Each `hex` must decode to `record` and re-encode to `hex`.',
      records: records.map((record, i) => ({ record: show(record), hex: toHex(encoded[i]) })),
      batch: {
        description:
          'A batch: insert alice, insert key1, then a write that deletes missing object "ghost".',
        hex: toHex(
          encodeBatch([
            { event: 'CREATE_USR', operations: [{ op: 'insert', record: encoded[0] }] },
            { event: 'CREATE_OBJ', operations: [{ op: 'insert', record: encoded[2] }] },
            { event: 'DELETE_OBJ', operations: [{ op: 'delete', kind: 'object', name: 'ghost' }] },
          ]),
        ),
        writeResults: [0, 0, CODE.CANNOT_OPEN_OBJ],
      },
    },
    null,
    2,
  ) + '\n',
);

const keys = ref.referenceKeys(TEST_SVMK);
const states = [[], [0], [2], [0, 2], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]].map((members) => {
  const value = ref.syncPoint(
    keys,
    members.map((i) => encoded[i]),
  );
  return {
    records: members,
    sp: toHex64(value.sp).toUpperCase(),
    spvv: value.spvv,
    accumulator: value.accumulator.toString(16).padStart(32, '0'),
  };
});
writeFileSync(
  'test/vectors/sync-point.json',
  JSON.stringify(
    {
      description:
        'Sync-Point vectors (docs/SYNC_POINT.md). svmk -> spKey by HKDF-SHA-256; record values and SP/SPVV of states made of the records of records.json.',
      svmk: toHex(TEST_SVMK),
      spKey: toHex(deriveSyncPointKey(TEST_SVMK)),
      nhKeyFirstWords: keys.nhKey.slice(0, 8).map((w) => w.toString(16).padStart(8, '0')),
      recordValues: encoded.map((record) => {
        const v = ref.recordValue(keys, record);
        return {
          length: record.length,
          nh0: toHex64(v.nh0),
          nh1: toHex64(v.nh1),
          lo: toHex64(v.lo),
          hi: toHex64(v.hi),
        };
      }),
      states,
      siphash: [
        {
          c: 2,
          d: 4,
          key: '000102030405060708090a0b0c0d0e0f',
          message: '',
          wide: false,
          out: toHex64(
            ref.sipHash(
              0x0706050403020100n,
              0x0f0e0d0c0b0a0908n,
              new Uint8Array(0),
              2,
              4,
              false,
            )[0],
          ),
        },
        {
          c: 2,
          d: 4,
          key: '000102030405060708090a0b0c0d0e0f',
          message: '000102030405060708090a0b0c0d0e',
          wide: false,
          out: 'a129ca6149be45e5',
        },
        {
          c: 2,
          d: 4,
          key: '000102030405060708090a0b0c0d0e0f',
          message: '',
          wide: true,
          out: 'e6a825ba047f81a3',
          out2: '930255c71472f66d',
        },
      ],
    },
    null,
    2,
  ) + '\n',
);

const checksumInputs = [0, 1, 16, 4095, 4096, 4097, 10000].map((n) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff),
);
writeFileSync(
  'test/vectors/checksum.json',
  JSON.stringify(
    {
      description:
        'The log/file checksum (assembly/checksum.ts): input bytes i are (7*i + 3) mod 256.',
      vectors: checksumInputs.map((input) => {
        const [lo, hi] = ref.checksum(input);
        return { length: input.length, lo: toHex64(lo), hi: toHex64(hi) };
      }),
    },
    null,
    2,
  ) + '\n',
);
console.log('wrote test/vectors/records.json, sync-point.json, checksum.json');
