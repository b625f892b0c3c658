// The dashboard on real processes: the page attached to a 3-process pool started here logs in
// as the remote console does (SCRAM over the browser's WebSocket) and shows the same SPs as the
// console's `info --json`; a wrong password, an unreachable pool and a refused node-down show
// their documented codes and change nothing.

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../host/cli/up-command.ts';
import { freePort } from '../../host/testing/free-port.node.ts';
import { consoleJson, freeAddresses, scratchDir, startNode } from '../processes.ts';
import { CHROMIUM, screenshot, startWeb, type WebHarness } from './browser.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
const data = scratchDir('web');

describe.skipIf(CHROMIUM === undefined)('the page attached to a pool of processes', () => {
  let web: WebHarness;
  let page: Page;
  let errors: string[];
  let addresses: string[];
  let password: string;

  beforeAll(async () => {
    addresses = await freeAddresses(3);
    password = await createPool(data, 'web', addresses);
    await Promise.all([0, 1, 2].map((i) => startNode(data, i)));
    web = await startWeb();
    ({ page, errors } = await web.open(`?pool=${addresses[0]}`));
  });
  afterAll(async () => {
    await web?.close();
  });

  it('a wrong password shows AUTH_FAILED and attaches nothing', async () => {
    await page.fill('#attachpass', 'wrong-password-1A');
    await page.click('#attachgo');
    await page.waitForFunction(() =>
      /\d+ \w+:/.test(document.getElementById('attacherror')!.textContent!),
    );
    expect(await page.locator('#attacherror').innerText()).toMatch(/AUTH_FAILED/);
    expect(await page.evaluate(() => (globalThis as any).hsmpool)).toBeUndefined();
  });

  it('an unreachable pool shows its network code and attaches nothing', async () => {
    const nobody = `127.0.0.1:${await freePort()}`;
    const { page: lonely } = await web.open(`?pool=${nobody}`);
    await lonely.fill('#attachpass', password);
    await lonely.click('#attachgo');
    await lonely.waitForFunction(() =>
      /\d+ \w+:/.test(document.getElementById('attacherror')!.textContent!),
    );
    expect(await lonely.locator('#attacherror').innerText()).toMatch(/^-?\d+ NET_\w+: /);
    expect(await lonely.evaluate(() => (globalThis as any).hsmpool)).toBeUndefined();
    await lonely.close();
  });

  it('logs in over WebSocket and shows every node with the SPs of the console’s info --json', async () => {
    await page.fill('#attachpass', password);
    await page.click('#attachgo');
    // The administrator is written by node 1 once the pool answers: wait for it on every node.
    let expected: string[] = [];
    for (let attempt = 0; attempt < 60; attempt++) {
      const infos = await Promise.all(addresses.map((a) => consoleJson(a, password, 'info')));
      expected = infos.map((info) => `${info.data.syncPoint.hex}/${info.data.syncPoint.spvvHex}`);
      const shown = await page.evaluate(() => (globalThis as any).hsmpool?.sps() ?? []);
      if (shown.length === 3 && shown.every((sp: string, i: number) => sp === expected[i])) break;
      await page.waitForTimeout(500);
    }
    const shown = await page.evaluate(() => (globalThis as any).hsmpool.sps());
    expect(shown).toEqual(expected);
    expect(new Set(shown).size).toBe(1);
    await screenshot(page, 'page-processes.png');
    expect(errors).toEqual([]);
  });

  it('runs the console’s commands as buttons; a refused node-down shows its code and changes nothing', async () => {
    await page.evaluate(() => (globalThis as any).hsmpool.select(1));
    await page.click('#ctl-cross-check');
    await page.waitForFunction(() =>
      /cross-check/.test(document.getElementById('coout')!.textContent!),
    );
    const before = await page.evaluate(() => (globalThis as any).hsmpool.epochs());
    // node-down of a live member: its probe answers, so the console refuses it.
    const target = await page.evaluate(() => (globalThis as any).hsmpool.pool.nodes[2].id);
    await page.selectOption('#conode', '0');
    await page.fill('#coline', `node-down ${target}`);
    await page.click('#corun');
    await page.waitForFunction(
      () => /error/.test(document.getElementById('coout')!.textContent!),
      undefined,
      {
        timeout: 30_000,
      },
    );
    expect(await page.locator('#coout').innerText()).toMatch(/\(\d+\)/);
    await page.waitForTimeout(1000);
    expect(await page.evaluate(() => (globalThis as any).hsmpool.epochs())).toEqual(before);
  });
});
