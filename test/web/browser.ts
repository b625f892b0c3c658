// Finding and driving a real Chromium for the page's end-to-end tests (playwright-core, no
// downloaded browsers: Debian's chromium). Without one the suites skip with a loud line saying
// how to install it; `npm run test:web` (HSMPOOL_WEB_REQUIRED=1) fails instead.

import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { buildWeb } from '../../scripts/build-web.ts';
import { serveStatic } from '../../web/serve.node.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** Flags that work on this kind of machine (../shared/reference/toolchain.md). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
];

export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium'].filter(
    (path): path is string => typeof path === 'string' && path.length > 0,
  );
  return candidates.find((path) => existsSync(path));
}

export const webRequired = process.env.HSMPOOL_WEB_REQUIRED === '1';

/** Where the tests' screenshots go: docs/img/ for `npm run test:web` (the README shows them),
 * build/screenshots/ otherwise, so `npm test` leaves the tree as it was. */
export function screenshotPath(name: string): string {
  const folder = webRequired ? '../../docs/img/' : '../../build/screenshots/';
  const url = new URL(`${folder}${name}`, import.meta.url);
  mkdirSync(new URL('.', url), { recursive: true });
  return fileURLToPath(url);
}
/** A screenshot for the README, once the tables (rebuilt four times a second) show the SP
 * every running node reports, so the picture and the tables tell one story. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  const shown = () => {
    const sps: (string | null)[] = (globalThis as any).hsmpool.sps();
    const cells = Array.from(document.querySelectorAll<HTMLElement>('#nodes td.sp'));
    const texts = cells.map((cell) => cell.innerText.trim());
    const same =
      texts.length === sps.length &&
      sps.every((sp, i) => sp === null || texts[i] === sp.split('/')[0]);
    return { same, sps, texts };
  };
  try {
    await page.waitForFunction(`(${shown.toString()})().same`);
  } catch (error) {
    // Say what the tables show against what the nodes report, not only "timeout".
    const state = await page.evaluate(shown).catch(() => undefined);
    throw new Error(`the nodes table never showed the nodes' SPs: ${JSON.stringify(state)}`, {
      cause: error,
    });
  }
  await page.screenshot({ path: screenshotPath(name), fullPage });
}

/** Waits until the page's nodes `among` report one SP (and, given `count`, it has that many). */
export async function sameSp(
  page: Page,
  among: readonly number[],
  { count, timeout = 30_000 }: { count?: number; timeout?: number } = {},
): Promise<void> {
  await page.waitForFunction(
    ([nodes, n]) => {
      const sps: (string | null)[] = (globalThis as any).hsmpool?.sps() ?? [];
      const same = nodes.every((i) => sps[i] != null && sps[i] === sps[nodes[0]]);
      return same && (n === null || sps.length === n);
    },
    [among, count ?? null] as const,
    { timeout, polling: 100 },
  );
}

/** Waits until the `n` appliances report one SP — `is` if given, other than `not` if given
 * (a write's reply comes before the status reports that show it) — and returns it. */
export async function equalSp(page: Page, n: number, want: { is?: string; not?: string } = {}) {
  const handle = await page.waitForFunction(
    ([count, is, not]) => {
      const h = (globalThis as any).hsmpool;
      const sps: (string | null)[] = h?.bootstrapped() ? h.sps() : [];
      const same = sps.length === count && sps.every((s) => s !== null && s === sps[0]);
      return same && (is === null || sps[0] === is) && sps[0] !== not && sps[0];
    },
    [n, want.is ?? null, want.not ?? null] as const,
    { timeout: 30_000, polling: 100 },
  );
  return (await handle.jsonValue()) as string;
}

export const CHROMIUM = chromiumPath();

if (CHROMIUM === undefined) {
  const line =
    '\n*** web end-to-end tests SKIPPED: no Chromium (set CHROMIUM_PATH, or on Debian/Ubuntu: ' +
    'sudo apt-get install chromium) ***\n';
  if (webRequired) throw new Error(line);
  console.warn(line);
}

export interface WebHarness {
  readonly browser: Browser;
  readonly url: string;
  readonly server: Server;
  /** A new page that records console errors and uncaught exceptions. */
  open(query: string): Promise<{ page: Page; errors: string[] }>;
  close(): Promise<void>;
}

export async function startWeb(): Promise<WebHarness> {
  const root = await buildWeb();
  const { server, url } = await serveStatic(root, 0);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  return {
    browser,
    url,
    server,
    async open(query) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('console', (message: ConsoleMessage) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
      await page.goto(`${url}${query}`);
      return { page, errors };
    },
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
