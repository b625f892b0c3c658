// bench:web — the same figures in Chromium (headless, Debian's) and in Node, in one run:
// Sync-Point from scratch over 100,000 records and commits/s of a 3-appliance in-process pool
// (bench/web-figures.ts, the same code in both); then the page itself with 16 appliances in
// Web Workers (IndexedDB storage, the SDK over in-tab connections) committing under 16 writers,
// with the picture's frames/s sampled every second. Prints a table, writes
// bench/results/web.json. Usage: npm run bench:web [-- --seconds 10]  (needs npm run build)

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { chromium } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.ts';
import { serveStatic } from '../web/serve.node.ts';
import { keyedCore, TEST_SVMK } from '../test/fixtures.ts';
import { CHROMIUM_FLAGS, chromiumPath } from '../test/web/browser.ts';
import { commitFigure, spFigure, type CommitFigure, type SpFigure } from './web-figures.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
const at = process.argv.indexOf('--seconds');
const seconds = at >= 0 ? Number(process.argv[at + 1]) : 10;
const RECORDS = 100_000;
const COMMITS = 2000;
const TAB_NODES = 16;

const executablePath = chromiumPath();
if (!executablePath) {
  console.error('bench:web needs a Chromium: set CHROMIUM_PATH or apt-get install chromium');
  process.exit(1);
}
const root = await buildWeb();
const { server, url } = await serveStatic(root, 0);
const browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
const loadBefore = loadavg()[0];
try {
  // Node first, then the browser, then Node again: a burst of load hits both sides alike.
  const node1 = {
    sp: spFigure(() => keyedCore(), RECORDS, 5),
    commit: await commitFigure(() => keyedCore(), TEST_SVMK, COMMITS, 8),
  };
  const page = await browser.newPage();
  await page.goto(`${url}bench.html?records=${RECORDS}&commits=${COMMITS}`);
  await page.waitForFunction(
    () => (globalThis as any).benchResult || (globalThis as any).benchError,
    undefined,
    { timeout: 300_000 },
  );
  const error = await page.evaluate(() => (globalThis as any).benchError);
  if (error) throw new Error(`in the page: ${error}`);
  const browserFigures = (await page.evaluate(() => (globalThis as any).benchResult)) as {
    sp: SpFigure;
    commit: CommitFigure;
    userAgent: string;
  };
  await page.close();
  const node2 = {
    sp: spFigure(() => keyedCore(), RECORDS, 5),
    commit: await commitFigure(() => keyedCore(), TEST_SVMK, COMMITS, 8),
  };
  const bestSp = node1.sp.nsPerRecord < node2.sp.nsPerRecord ? node1.sp : node2.sp;
  const bestCommit = node1.commit.perSecond > node2.commit.perSecond ? node1.commit : node2.commit;
  if (browserFigures.sp.sp !== bestSp.sp)
    throw new Error('the browser computed another SP for the same records');

  // The page with 16 appliances in workers.
  const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await tab.goto(`${url}?nodes=${TAB_NODES}&fresh=1`);
  await tab.waitForFunction(
    (n) => {
      const h = (globalThis as any).hsmpool;
      const sps = h?.sps() ?? [];
      return (
        h?.bootstrapped() && sps.length === n && sps.every((sp: string) => sp && sp === sps[0])
      );
    },
    TAB_NODES,
    { timeout: 300_000, polling: 500 },
  );
  const idleFps = await tab.evaluate(async () => {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return (globalThis as any).hsmpool.fps();
  });
  // One writer (every commit a 16-node 2PC), then one writer per appliance (they contend for
  // the pool's single pending transaction: busy answers, backoff, retries).
  const loads = [];
  for (const writers of [1, TAB_NODES]) {
    const loaded = await tab.evaluate(
      ([s, w]) => (globalThis as any).hsmpool.load(s, w),
      [seconds, writers],
    );
    const sorted = [...loaded.fps].sort((x: number, y: number) => x - y);
    loads.push({
      writers,
      commits: loaded.commits as number,
      perSecond: (loaded.commits * 1000) / loaded.ms,
      failures: loaded.failures as Record<string, number>,
      fpsMin: sorted[0] as number,
      fpsMedian: sorted[Math.floor(sorted.length / 2)] as number,
      fpsSamples: loaded.fps as number[],
    });
  }
  // Writes still in flight settle: every appliance ends on one SP.
  const converged = await tab
    .waitForFunction(
      () => {
        const sps = (globalThis as any).hsmpool.sps();
        return sps.every((sp: string) => sp && sp === sps[0]);
      },
      undefined,
      { timeout: 60_000, polling: 250 },
    )
    .then(
      () => true,
      () => false,
    );
  await tab.close();
  const tabFigure = {
    nodes: TAB_NODES,
    seconds,
    fpsIdle: idleFps,
    loads,
    spsEqualAfter: converged,
  };
  const rows = [
    [
      'SP from scratch, 100,000 records of ~80 B (ns/record, best of 5)',
      bestSp.nsPerRecord.toFixed(1),
      browserFigures.sp.nsPerRecord.toFixed(1),
    ],
    [
      'commits/s, 3-appliance in-process pool, memory storage, 8 writers',
      bestCommit.perSecond.toFixed(0),
      browserFigures.commit.perSecond.toFixed(0),
    ],
    ...loads.map((load) => [
      `the page, ${TAB_NODES} appliances in workers (IndexedDB), ${load.writers} SDK writer(s): commits/s; frames/s min / median`,
      '',
      `${load.perSecond.toFixed(1)}; ${load.fpsMin?.toFixed(0)} / ${load.fpsMedian?.toFixed(0)}`,
    ]),
    ['the page idle: frames/s', '', idleFps.toFixed(0)],
  ];
  const browserName = browserFigures.userAgent.match(/Chrom\w*\/[\d.]+/)?.[0] ?? 'browser';
  console.log(`\n| measure | Node ${process.version} | ${browserName} |`);
  console.log('| --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(
    `\nfailures in the page's loads: ${loads.map((l) => JSON.stringify(l.failures)).join(', ')}; ` +
      `every SP equal after: ${converged}`,
  );
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/web.json', import.meta.url),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          model: cpus()[0]?.model,
          loadBefore,
          loadAfter: loadavg()[0],
        },
        node: { version: process.version, runs: [node1, node2] },
        browser: browserFigures,
        tab: tabFigure,
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  await browser.close();
  server.close();
}
