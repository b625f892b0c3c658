// The in-page half of `npm run bench:web` (build/web/bench.html): the figures of
// bench/web-figures.ts measured in this browser; bench/web.ts reads them next to Node's.

import { Core } from '../host/core/core.ts';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import { commitFigure, spFigure } from '../bench/web-figures.ts';

const params = new URLSearchParams(location.search);
const records = Number(params.get('records') ?? 100_000);
const commits = Number(params.get('commits') ?? 2000);
const svmk = Uint8Array.from({ length: 32 }, (_, i) => i);
const key = deriveSyncPointKey(svmk);
const out = document.getElementById('out')!;
const scope = globalThis as unknown as { benchResult?: unknown; benchError?: string };

try {
  const module = await WebAssembly.compileStreaming(fetch(new URL('core.wasm', location.href)));
  const newCore = (): Core => {
    const core = Core.fromModule(module);
    core.setKey(key);
    return core;
  };
  const sp = spFigure(newCore, records, 5);
  out.textContent = `SP from scratch: ${sp.nsPerRecord.toFixed(1)} ns/record\n`;
  const commit = await commitFigure(newCore, svmk, commits, 8);
  out.textContent += `commits: ${commit.perSecond.toFixed(0)}/s\n`;
  scope.benchResult = { sp, commit, userAgent: navigator.userAgent };
} catch (error) {
  scope.benchError = error instanceof Error ? (error.stack ?? error.message) : String(error);
  out.textContent = scope.benchError;
}
