// Backup and restore from the page, end to end in Chromium: the backup button fetches the
// console's backup from a node and offers it as a file, which Node decodes under the pool's
// SVMK at the SP the pool had; a damaged file is refused with its documented code and the node
// comes back unchanged; the good file restored into every node rolls the pool back to that SP
// (a key written after the backup is gone, one written before it is there).

import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hex16 } from '../../host/backup/format.ts';
import { openBackup } from '../../host/backup/stream.ts';
import { fromHex } from '../../host/wire/bytes.ts';
import { CHROMIUM, equalSp, screenshot, startWeb, type WebHarness } from './browser.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */

const create = (page: Page, node: number, name: string) =>
  page.evaluate(([n, k]) => (globalThis as any).hsmpool.ops.create(n, k, 'aes-256'), [
    node,
    name,
  ] as const) as Promise<{ code: number }>;

/** The keys a node lists, as the client pane shows them (JSON). */
const listed = async (page: Page, node: number): Promise<string> => {
  const call = await page.evaluate((n) => (globalThis as any).hsmpool.ops.list(n), node);
  expect(call.code).toBe(0);
  return call.result;
};

/** The backup button of node `index`: the file offered for download, which Node reads as the
 * backup of this pool at `sp` (what hsmpool restore would check). */
async function backupFromPage(page: Page, index: number, sp: string): Promise<Uint8Array> {
  await page.evaluate((i) => (globalThis as any).hsmpool.select(i), index);
  await page.click('#ctl-backup');
  await page.waitForSelector('#backupfile');
  expect(await page.locator('#coout').innerText()).toContain(`SP ${sp.split('/')[0]}`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#backupfile')]);
  const file = new Uint8Array(readFileSync(await download.path()));
  const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('hsmpool.tab-pool')!));
  const { header, pieces } = await openBackup(file);
  for await (const piece of pieces(fromHex(saved.svmk)!)) expect(piece.length).toBeGreaterThan(0);
  expect(header.version).toBe(2);
  const spvv = header.spvv.toString(16).padStart(4, '0').toUpperCase();
  expect(`${hex16(header.sp)}/${spvv}`).toBe(sp);
  expect(hex16(header.poolId)).toBe(saved.poolId.toUpperCase());
  return file;
}

/** Chooses a backup file in the page's file field (what restore then uses). */
async function chooseFile(page: Page, name: string, bytes: Uint8Array): Promise<void> {
  const buffer = Buffer.from(bytes);
  await page.setInputFiles('#backupin', { name, mimeType: 'application/octet-stream', buffer });
  await page.waitForFunction(() =>
    /ready to restore/.test(document.getElementById('coout')!.textContent!),
  );
}

describe.skipIf(CHROMIUM === undefined)('backup and restore from the page, in Chromium', () => {
  let web: WebHarness;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    web = await startWeb();
    ({ page, errors } = await web.open('?nodes=3&fresh=1'));
  });
  afterAll(async () => {
    await web?.close();
  });

  it('backs up, refuses a damaged file without a change, and rolls the pool back to the backup', async () => {
    const empty = await equalSp(page, 3);
    expect((await create(page, 0, 'before-backup')).code).toBe(0);
    const atBackup = await equalSp(page, 3, { not: empty });

    const file = await backupFromPage(page, 1, atBackup);

    // The pool moves on.
    expect((await create(page, 0, 'after-backup')).code).toBe(0);
    const moved = await equalSp(page, 3, { not: atBackup });

    // A damaged file: refused with its documented code; node 3 comes back as it was.
    const damaged = file.slice();
    damaged[damaged.length - 40] ^= 0xff;
    await chooseFile(page, 'damaged.backup', damaged);
    await page.evaluate(() => (globalThis as any).hsmpool.select(2));
    await page.click('#ctl-restore-node');
    await page.waitForFunction(() =>
      /node 3: /.test(document.getElementById('coout')!.textContent!),
    );
    expect(await page.locator('#coout').innerText()).toMatch(
      /node 3: restore refused, nothing changed: BACKUP_DAMAGED \(38802\)/,
    );
    expect(await equalSp(page, 3, { is: moved })).toBe(moved);

    // The good file into every node: the pool is back at the backup's SP.
    await chooseFile(page, 'pool.backup', file);
    await page.click('#ctl-restore-pool');
    await page.waitForFunction(() =>
      /node 3: /.test(document.getElementById('coout')!.textContent!),
    );
    expect(await page.locator('#coout').innerText()).toMatch(/node 1: restored: \d+ records/);
    expect(await equalSp(page, 3, { is: atBackup })).toBe(atBackup);
    await screenshot(page, 'page-restored.png', true);
    const keys = await listed(page, 2);
    expect(keys).toContain('"before-backup"');
    expect(keys).not.toContain('"after-backup"');
    // And it writes again.
    expect((await create(page, 2, 'after-restore')).code).toBe(0);
    await equalSp(page, 3, { not: atBackup });
    expect(errors).toEqual([]);
  });
});
