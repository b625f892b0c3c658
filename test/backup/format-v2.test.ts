// Backup format version 2 (host/backup/format-v2.ts, docs/FORMATS.md "Backups"): golden
// vectors for both versions, the stream read in pieces of any size, and every corruption
// (truncation, reordering, splicing, flips, another SVMK) refused with its code.
// Regenerate the vectors only when a format changes on purpose:
//   UPDATE_BACKUP_VECTORS=1 npx vitest run test/backup/format-v2.test.ts

import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE, HsmError } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import { encodeBackup } from '../../host/backup/format.ts';
import {
  BACKUP_V2_CHUNK_SIZE_MIN,
  BACKUP_V2_FIXED_HEADER_SIZE,
  encodeBackupStream,
} from '../../host/backup/format-v2.ts';
import { openBackup } from '../../host/backup/stream.ts';
import { splitSnapshot } from '../../host/log/recovery.ts';
import { fromHex, joinBytes, toHex } from '../../host/wire/bytes.ts';
import { NODE_CHACHA } from '../../host/wire/crypto-engine.node.ts';
import { filledCore, TEST_SVMK } from '../fixtures.ts';

const VECTORS = new URL('../vectors/backup.json', import.meta.url);
const OTHER_SVMK = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const SALT = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
const fixedSalt = (length: number): Uint8Array => SALT.slice(0, length);

/** The snapshot as version 2 takes it: its header, then pieces of whole frames. */
function pieces(core: Core, pieceSize: number): Uint8Array[] {
  const [header, ...frames] = splitSnapshot(joinBytes(core.snapshotChunks()), pieceSize);
  return [header, ...frames];
}

const input = (snapshot: Iterable<Uint8Array>, chunkSize = BACKUP_V2_CHUNK_SIZE_MIN) => ({
  poolId: 0x1122334455667788n,
  domain: 'bank',
  createdMs: 1_700_000_000_000,
  snapshot,
  chunkSize,
  randomBytes: fixedSalt,
});

const encodeV2 = (snapshot: Uint8Array[], svmk = TEST_SVMK): Uint8Array[] => [
  ...encodeBackupStream(input(snapshot), svmk),
];

/** Reads `bytes` cut at `cuts` and returns the snapshot pieces, or the code it throws. */
async function read(
  bytes: Uint8Array,
  svmk = TEST_SVMK,
  cuts: number[] = [],
): Promise<Uint8Array[] | number> {
  const points = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)];
  const parts = points.map((p, i) => bytes.subarray(p, points[i + 1] ?? bytes.length));
  try {
    const opened = await openBackup(parts);
    const out: Uint8Array[] = [];
    for await (const piece of opened.pieces(svmk)) out.push(piece);
    return out;
  } catch (error) {
    if (error instanceof HsmError) return error.code;
    throw error;
  }
}

function buildVectors() {
  const core = filledCore(3);
  const snapshot = pieces(core, 300);
  const v2 = encodeV2(snapshot);
  const v1 = encodeBackup({ ...input(snapshot), chunkSize: 4096 }, TEST_SVMK);
  return {
    description:
      'Backup files (docs/FORMATS.md "Backups"): the same snapshot pieces under TEST_SVMK (00..1f) with the salt a0..bf, as version 2 (written today) and version 1 (read only).',
    svmk: toHex(TEST_SVMK),
    salt: toHex(SALT),
    snapshotPieces: snapshot.map(toHex),
    version2: v2.map(toHex),
    version1: toHex(v1),
  };
}

if (process.env.UPDATE_BACKUP_VECTORS)
  writeFileSync(VECTORS, JSON.stringify(buildVectors(), null, 2) + '\n');
const vectors = JSON.parse(readFileSync(VECTORS, 'utf8')) as ReturnType<typeof buildVectors>;
const golden = {
  pieces: vectors.snapshotPieces.map((hex) => fromHex(hex)!),
  v2: joinBytes(vectors.version2.map((hex) => fromHex(hex)!)),
  v1: fromHex(vectors.version1)!,
};

describe('backup golden vectors', () => {
  it('version 2: the golden pieces encode to the golden file, which reads back to them', async () => {
    expect(golden.pieces.length).toBeGreaterThanOrEqual(3);
    expect(encodeV2(golden.pieces).map(toHex)).toEqual(vectors.version2);
    expect((await read(golden.v2)) as Uint8Array[]).toEqual(golden.pieces);
    const { header } = await openBackup(golden.v2);
    expect(header).toMatchObject({ version: 2, poolId: 0x1122334455667788n, domain: 'bank' });
  });

  it("version 2 with node:crypto's ChaCha20-Poly1305 (what nodes and the CLI use): the same golden bytes, read back, a flip refused", async () => {
    const sealed = [
      ...encodeBackupStream({ ...input(golden.pieces), aead: NODE_CHACHA }, TEST_SVMK),
    ];
    expect(sealed.map(toHex)).toEqual(vectors.version2);
    const opened = await openBackup(golden.v2);
    const out: Uint8Array[] = [];
    for await (const piece of opened.pieces(TEST_SVMK, NODE_CHACHA)) out.push(piece);
    expect(out).toEqual(golden.pieces);
    const flipped = golden.v2.slice();
    flipped[flipped.length - 20] ^= 1;
    await expect(
      (async () => {
        for await (const _ of (await openBackup(flipped)).pieces(TEST_SVMK, NODE_CHACHA));
      })(),
    ).rejects.toMatchObject({ code: CODE.BACKUP_DAMAGED });
  });

  it('version 1 files still read (the same snapshot), and still encode as before', async () => {
    const pieces = (await read(golden.v1)) as Uint8Array[];
    expect(toHex(joinBytes(pieces))).toBe(toHex(joinBytes(golden.pieces)));
    expect(toHex(encodeBackup({ ...input(golden.pieces), chunkSize: 4096 }, TEST_SVMK))).toBe(
      vectors.version1,
    );
    expect((await openBackup(golden.v1)).header.version).toBe(1);
  });
});

describe('backup format version 2', () => {
  const snapshot = pieces(filledCore(120), 4096);
  const sealed = encodeV2(snapshot);
  const file = joinBytes(sealed);

  it('reads the same pieces whatever the stream is cut into', async () => {
    expect(snapshot.length).toBeGreaterThan(3);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(file.length), { maxLength: 40 }), async (cuts) => {
        expect((await read(file, TEST_SVMK, cuts)) as Uint8Array[]).toEqual(snapshot);
      }),
      { numRuns: 60, seed: 20261205 },
    );
  });

  it('refuses another SVMK at the header (38803), before any chunk', async () => {
    expect(await read(file, OTHER_SVMK)).toBe(CODE.BACKUP_FOREIGN);
    expect(await read(file.subarray(0, BACKUP_V2_FIXED_HEADER_SIZE + 4), OTHER_SVMK)).toBe(
      CODE.BACKUP_FOREIGN,
    );
  });

  it('refuses every truncation and trailing bytes (38802; 38801 below 4 bytes)', async () => {
    for (let length = 0; length < file.length; length += length < 200 ? 1 : 97) {
      const code = await read(file.subarray(0, length));
      expect([length, code]).toEqual([
        length,
        length < 4 ? CODE.BACKUP_FORMAT : CODE.BACKUP_DAMAGED,
      ]);
    }
    expect(await read(joinBytes([file, new Uint8Array(1)]))).toBe(CODE.BACKUP_DAMAGED);
  });

  it('refuses chunks reordered, dropped, or spliced from another file (38802)', async () => {
    const [header, ...chunks] = sealed;
    const swapped = [header, chunks[0], chunks[2], chunks[1], ...chunks.slice(3)];
    expect(await read(joinBytes(swapped))).toBe(CODE.BACKUP_DAMAGED);
    const dropped = [header, ...chunks.slice(0, 1), ...chunks.slice(2)];
    expect(await read(joinBytes(dropped))).toBe(CODE.BACKUP_DAMAGED);
    // The final chunk cut off and the one before marked final by hand: the AAD holds the flag.
    const early = chunks.slice(0, -1).map((c) => c.slice());
    const last = early[early.length - 1];
    last[3] |= 0x80;
    expect(await read(joinBytes([header, ...early]))).toBe(CODE.BACKUP_DAMAGED);
    // A second backup of the same state, same key, another salt: its chunks do not fit.
    const other = [
      ...encodeBackupStream({ ...input(snapshot), randomBytes: undefined }, TEST_SVMK),
    ];
    expect(await read(joinBytes([header, other[1], ...chunks.slice(1)]))).toBe(CODE.BACKUP_DAMAGED);
  });

  it('refuses any flipped byte with a documented code, never yields an altered piece', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(file.length - 1),
        fc.integer({ min: 1, max: 255 }),
        async (at, mask) => {
          const bad = file.slice();
          bad[at] ^= mask;
          const result = await read(bad);
          expect(typeof result).toBe('number');
          expect([CODE.BACKUP_FORMAT, CODE.BACKUP_DAMAGED, CODE.BACKUP_FOREIGN]).toContain(result);
        },
      ),
      { numRuns: 300, seed: 20261205 },
    );
  });

  it('scan checks the framing without the key', async () => {
    expect((await (await openBackup(file)).scan()).chunks).toBe(snapshot.length);
    const code = await (
      await openBackup(file.subarray(0, file.length - 1))
    )
      .scan()
      .then(() => 0)
      .catch((error: HsmError) => error.code);
    expect(code).toBe(CODE.BACKUP_DAMAGED);
  });

  it('a writer abandoned half way closes its snapshot source (the export)', () => {
    let closed = 0;
    function* source(): Generator<Uint8Array> {
      try {
        yield* snapshot;
      } finally {
        closed++;
      }
    }
    const writer = encodeBackupStream(input(source()), TEST_SVMK);
    writer.next();
    writer.next();
    expect(closed).toBe(0);
    writer.return(undefined);
    expect(closed).toBe(1);
  });

  it('the writer refuses pieces larger than the chunk size', () => {
    const big = [snapshot[0], new Uint8Array(BACKUP_V2_CHUNK_SIZE_MIN + 1)];
    expect(() => encodeV2(big)).toThrow(RangeError);
  });
});
