// The browser page end to end, in a real Chromium: three appliances in Web Workers reach equal
// Sync-Points, a key created in the client pane signs on another node, a reload restarts every
// appliance through recovery with the same SPs, and a worker terminated mid-write leaves a PTL
// on the survivors that blocks writes until node-down, after which writes flow. The tests save
// the screenshots the README shows (docs/img/).

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, equalSp, sameSp, screenshot, startWeb, type WebHarness } from './browser.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** The SPs once the `count` appliances report one. */
async function equalSps(page: Page, count: number): Promise<string[]> {
  await equalSp(page, count);
  return page.evaluate(() => (globalThis as any).hsmpool.sps());
}

const LABELS: Record<string, string> = {
  create: 'create key',
  sign: 'sign',
  verify: 'verify',
  login: 'login',
  list: 'list keys',
};

/** Clicks a client-pane button on a node and waits for that call to be listed (an earlier call
 * still in flight, on another node or of another kind, may be listed first). */
async function clientCall(page: Page, node: number, button: string): Promise<string> {
  const before = await page.locator('#calls .call').count();
  const label = `${LABELS[button]} on node ${node + 1}:`;
  await page.selectOption('#cnode', String(node));
  await page.click(`#${button}`);
  const handle = await page.waitForFunction(
    ([n, l]) => {
      const calls = Array.from(document.querySelectorAll<HTMLElement>('#calls .call'));
      const fresh = calls.slice(0, calls.length - (n as number));
      return fresh.find((call) => call.innerText.startsWith(l as string))?.innerText ?? false;
    },
    [before, label],
    { timeout: 30_000 },
  );
  return (await handle.jsonValue()) as string;
}

describe.skipIf(CHROMIUM === undefined)('the page, in Chromium', () => {
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

  it('loads without console errors and 3 appliances in workers reach equal SPs', async () => {
    const sps = await equalSps(page, 3);
    expect(new Set(sps).size).toBe(1);
    expect(await page.locator('#nodes tr').count()).toBe(4);
    await page.waitForFunction(() => (globalThis as any).hsmpool.fps() > 0);
    expect(errors).toEqual([]);
  });

  it('a key created in the client pane on node 1 signs on node 2 and verifies on node 1', async () => {
    const created = await clientCall(page, 0, 'create');
    expect(created).toContain('create key on node 1: 0 OK');
    const signed = await clientCall(page, 1, 'sign');
    expect(signed).toContain('sign on node 2: 0 OK');
    const verified = await clientCall(page, 0, 'verify');
    expect(verified).toContain('verify on node 1: 0 OK');
    expect(verified).toMatch(/\ntrue$/);
    await equalSps(page, 3);
    await screenshot(page, 'page-pool.png');
    expect(errors).toEqual([]);
  });

  it('a reload restarts every appliance through recovery with the same SPs', async () => {
    const before = await equalSps(page, 3);
    await page.reload();
    const after = await equalSps(page, 3);
    expect(after).toEqual(before);
    // Every node recovered (the table shows its recovery time) rather than starting empty.
    const records = await page.evaluate(() => (globalThis as any).hsmpool.records());
    expect(records.every((count: number) => count >= 3)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('a worker terminated mid-write leaves a PTL that blocks writes until node-down; then writes flow', async () => {
    const before = await equalSps(page, 3);
    // Node 3 stops answering (its frames are held), a write starts, then node 3 dies.
    await page.evaluate(() => (globalThis as any).hsmpool.pool.setPaused(2, true));
    await page.fill('#kname', 'midwrite');
    await page.selectOption('#cnode', '0');
    await page.click('#create');
    await page.waitForFunction(
      () => {
        const pending = (globalThis as any).hsmpool.pending();
        return pending[0] > 0 && pending[1] > 0;
      },
      undefined,
      { timeout: 30_000 },
    );
    await page.evaluate(() => (globalThis as any).hsmpool.pool.kill(2));
    await page.waitForFunction(() => document.querySelectorAll('#ptl .ptl-entry').length >= 2);
    await screenshot(page, 'page-ptl.png');
    // Writes block: another write on node 2 is refused with a busy code, and nothing commits.
    await page.fill('#kname', 'blocked');
    const blocked = await clientCall(page, 1, 'create');
    expect(blocked).not.toContain(': 0 OK');
    expect(blocked).toMatch(/create key on node 2: 36\d{3} /);
    const during = await page.evaluate(() => (globalThis as any).hsmpool.sps());
    expect(during.slice(0, 2)).toEqual(before.slice(0, 2));
    // node-down from the remote console of a survivor, by the button of the dead node.
    await page.evaluate(() => (globalThis as any).hsmpool.select(2));
    await page.click('#ctl-node-down');
    await page.waitForFunction(() =>
      /node-down/.test(document.getElementById('coout')!.textContent!),
    );
    expect(await page.locator('#coout').innerText()).not.toMatch(/error/);
    await page.waitForFunction(
      () => {
        const pending = (globalThis as any).hsmpool.pending();
        return pending[0] === 0 && pending[1] === 0;
      },
      undefined,
      { timeout: 30_000 },
    );
    await page.fill('#kname', 'after-down');
    const flowing = await clientCall(page, 1, 'create');
    expect(flowing).toContain('create key on node 2: 0 OK');
    const epochs = await page.evaluate(() => (globalThis as any).hsmpool.epochs());
    expect(epochs[0]).toBeGreaterThan(0);
    await sameSp(page, [0, 1]);
    await screenshot(page, 'page-node-down.png');
    expect(errors).toEqual([]);
  });

  it('adds a node: it joins by live-sync (its progress shown), ends on the pool SP and takes part in the next write', async () => {
    await page.evaluate(() => (globalThis as any).hsmpool.select(0));
    await page.click('#ctl-add');
    // Node 4 joins while nodes 1 and 2 run (node 3 was declared down above).
    await sameSp(page, [3, 0, 1], { count: 4, timeout: 60_000 });
    const progress = await page.evaluate(() => (globalThis as any).hsmpool.pool.nodes[3].progress);
    expect(progress.phase).toBeDefined();
    await page.fill('#kname', 'after-join');
    const written = await clientCall(page, 3, 'create');
    expect(written).toContain('create key on node 4: 0 OK');
    await sameSp(page, [3, 0, 1]);
    // A reload restarts the joined node from its own storage, as a member: it recovers (no
    // live-sync again) and agrees with the others.
    const records = await page.evaluate(() => (globalThis as any).hsmpool.records()[3]);
    await page.reload();
    await sameSp(page, [3, 0, 1], { count: 4 });
    const restarted = await page.evaluate(() => {
      const node = (globalThis as any).hsmpool.pool.nodes[3];
      return { progress: node.progress, recoveredMs: node.recoveredMs, state: node.status.info };
    });
    expect(restarted.progress).toBeUndefined();
    expect(restarted.recoveredMs).toBeGreaterThan(0);
    expect(restarted.state.syncPoint.count).toBeGreaterThanOrEqual(records);
    await screenshot(page, 'page-joined.png');
    expect(errors).toEqual([]);
  });
  it('a wrong password shows its documented code and message, and the keys stay as they were', async () => {
    await page.fill('#cpass', 'not-the-password-1A');
    const answer = await clientCall(page, 0, 'login');
    expect(answer).toMatch(/login on node 1: \d+ AUTH_FAILED — \S/);
    await page.fill('#cpass', await page.evaluate(() => (globalThis as any).hsmpool.pool.password));
    const listed = await clientCall(page, 3, 'list');
    expect(listed).toContain('list keys on node 4: 0 OK');
    expect(listed).toContain('"signer"');
    // The failure counter is replicated state (docs/CLIENT.md, lockout): every member agrees on it.
    await sameSp(page, [0, 1, 3]);
    expect(errors).toEqual([]);
  });

  it("bench:web's writers, in a worker of their own with sessions over ports, commit while the picture draws", async () => {
    const loaded = await page.evaluate(() => (globalThis as any).hsmpool.load(1, 2));
    expect(loaded.commits).toBeGreaterThan(0);
    expect(loaded.frames.length).toBeGreaterThan(0);
    // Two writers contend for the pool's one pending transaction: busy is the only failure.
    for (const code of Object.keys(loaded.failures)) expect(code).toMatch(/^36\d{3}$/);
    await sameSp(page, [0, 1, 3]);
    expect(errors).toEqual([]);
  });
});
