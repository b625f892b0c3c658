// bench:web — the same figures in Chromium (headless, Debian's) and in Node, in one run:
// Sync-Point from scratch over 100,000 records and commits/s of a 3-appliance in-process pool
// (bench/web-figures.ts, the same code in both); then the page itself with 3 and with 16
// appliances in Web Workers (IndexedDB storage, the SDK over in-tab connections) committing
// under one writer and then one writer per appliance, with the timestamp of every frame the
// picture draws (bench/web-frames.ts). Prints a table, writes bench/results/web.json.
// Usage: npm run bench:web [-- --seconds 10]  (needs npm run build)

import { cpus, loadavg } from 'node:os';
import { chromium, type Browser } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.ts';
import { serveStatic } from '../web/serve.node.ts';
import { keyedCore, TEST_SVMK } from '../test/fixtures.ts';
import { CHROMIUM_FLAGS, chromiumPath } from '../test/web/browser.ts';
import { commitFigure, spFigure, type CommitFigure, type SpFigure } from './web-figures.ts';
import { frameFigure, type FrameFigure } from './web-frames.ts';
import { numberOption, writeResult } from './lib/cli.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
const seconds = numberOption('seconds', 10);
const RECORDS = 100_000;
const COMMITS = 2000;
const TAB_SIZES = [3, 16];

interface LoadFigure extends FrameFigure {
  readonly writers: number;
  readonly commits: number;
  readonly perSecond: number;
  readonly failures: Record<string, number>;
}

interface TabFigure {
  readonly nodes: number;
  readonly seconds: number;
  readonly idle: FrameFigure;
  readonly loads: LoadFigure[];
  readonly spsEqualAfter: boolean;
}

const executablePath = chromiumPath();
if (!executablePath) {
  console.error('bench:web needs a Chromium: set CHROMIUM_PATH or apt-get install chromium');
  process.exit(1);
}

async function nodeFigures(): Promise<{ sp: SpFigure; commit: CommitFigure }> {
  const sp = spFigure(() => keyedCore(), RECORDS, 5);
  return { sp, commit: await commitFigure(() => keyedCore(), TEST_SVMK, COMMITS, 8) };
}

async function browserFigures(browser: Browser, url: string) {
  const page = await browser.newPage();
  await page.goto(`${url}bench.html?records=${RECORDS}&commits=${COMMITS}`);
  await page.waitForFunction(
    () => (globalThis as any).benchResult || (globalThis as any).benchError,
    undefined,
    { timeout: 300_000 },
  );
  const error = await page.evaluate(() => (globalThis as any).benchError);
  if (error) throw new Error(`in the page: ${error}`);
  const figures = await page.evaluate(() => (globalThis as any).benchResult);
  await page.close();
  return figures as { sp: SpFigure; commit: CommitFigure; userAgent: string };
}

/** Whether every appliance of the page reports one SP (writes in flight settled). */
function equalSps(n: number): boolean {
  const h = (globalThis as any).hsmpool;
  const sps = h?.sps() ?? [];
  return h?.bootstrapped() && sps.length === n && sps.every((sp: string) => sp && sp === sps[0]);
}

/** The page with `nodes` appliances in workers: idle, then one writer, then one per node. */
async function tabFigure(browser: Browser, url: string, nodes: number): Promise<TabFigure> {
  const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await tab.goto(`${url}?nodes=${nodes}&fresh=1`);
  await tab.waitForFunction(equalSps, nodes, { timeout: 300_000, polling: 500 });
  const idleTimes = await tab.evaluate(async () => {
    const recording = (globalThis as any).hsmpool.record();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    return recording.stop() as number[];
  });
  // One writer (every commit an n-node 2PC), then one writer per appliance (they contend for
  // the pool's single pending transaction: busy answers, backoff, retries).
  const loads: LoadFigure[] = [];
  for (const writers of [1, nodes]) {
    const loaded = await tab.evaluate(
      ([s, w]) => (globalThis as any).hsmpool.load(s, w),
      [seconds, writers],
    );
    loads.push({
      writers,
      commits: loaded.commits,
      perSecond: (loaded.commits * 1000) / loaded.ms,
      failures: loaded.failures,
      ...frameFigure(loaded.frames),
    });
  }
  const spsEqualAfter = await tab
    .waitForFunction(equalSps, nodes, { timeout: 60_000, polling: 250 })
    .then(
      () => true,
      () => false,
    );
  await tab.close();
  return { nodes, seconds, idle: frameFigure(idleTimes), loads, spsEqualAfter };
}

function table(
  node: { sp: SpFigure; commit: CommitFigure },
  browser: { sp: SpFigure; commit: CommitFigure; userAgent: string },
  tabs: TabFigure[],
): void {
  const rows = [
    [
      'SP from scratch, 100,000 records of ~80 B (ns/record, best of 5)',
      node.sp.nsPerRecord.toFixed(1),
      browser.sp.nsPerRecord.toFixed(1),
    ],
    [
      'commits/s, 3-appliance in-process pool, memory storage, 8 writers',
      node.commit.perSecond.toFixed(0),
      browser.commit.perSecond.toFixed(0),
    ],
  ];
  for (const tab of tabs) {
    for (const load of tab.loads)
      rows.push([
        `the page, ${tab.nodes} appliances in workers (IndexedDB), ${load.writers} SDK writer(s): commits/s; frames/s min / median; frame interval p95 / max (ms)`,
        '',
        `${load.perSecond.toFixed(1)}; ${load.fpsMin} / ${load.fpsMedian}; ${load.intervalP95Ms.toFixed(0)} / ${load.intervalMaxMs.toFixed(0)}`,
      ]);
    rows.push([
      `the page idle, ${tab.nodes} appliances: frames/s min / median`,
      '',
      `${tab.idle.fpsMin} / ${tab.idle.fpsMedian}`,
    ]);
  }
  const browserName = browser.userAgent.match(/Chrom\w*\/[\d.]+/)?.[0] ?? 'browser';
  console.log(`\n| measure | Node ${process.version} | ${browserName} |`);
  console.log('| --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  for (const tab of tabs)
    console.log(
      `${tab.nodes} appliances: failures ${tab.loads.map((l) => JSON.stringify(l.failures)).join(', ')}; every SP equal after: ${tab.spsEqualAfter}`,
    );
}

const root = await buildWeb();
const { server, url } = await serveStatic(root, 0);
const browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
const loadBefore = loadavg()[0];
try {
  // Node first, then the browser, then Node again: a burst of load hits both sides alike.
  const node1 = await nodeFigures();
  const inBrowser = await browserFigures(browser, url);
  const node2 = await nodeFigures();
  const bestSp = node1.sp.nsPerRecord < node2.sp.nsPerRecord ? node1.sp : node2.sp;
  const bestCommit = node1.commit.perSecond > node2.commit.perSecond ? node1.commit : node2.commit;
  if (inBrowser.sp.sp !== bestSp.sp)
    throw new Error('the browser computed another SP for the same records');
  const tabs: TabFigure[] = [];
  for (const nodes of TAB_SIZES) tabs.push(await tabFigure(browser, url, nodes));
  table({ sp: bestSp, commit: bestCommit }, inBrowser, tabs);
  const machine = {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    loadBefore,
    loadAfter: loadavg()[0],
  };
  writeResult('web.json', {
    date: new Date().toISOString(),
    machine,
    node: { version: process.version, runs: [node1, node2] },
    browser: inBrowser,
    tabs,
  });
} finally {
  await browser.close();
  server.close();
}
