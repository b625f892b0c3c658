// Builds the browser page into build/web/: the page and the appliance worker bundled by esbuild
// for the browser platform, index.html, and the WebAssembly core (build/core.wasm, which
// `npm run build:wasm` makes). Any static file server can serve the directory.

import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'build', 'web');

export async function buildWeb(): Promise<string> {
  const wasm = join(root, 'build', 'core.wasm');
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing: run \`npm run build:wasm\` first`);
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: {
      main: join(root, 'web', 'main.ts'),
      worker: join(root, 'web', 'worker.ts'),
      bench: join(root, 'web', 'bench.ts'),
    },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outdir: out,
    sourcemap: true,
    logLevel: 'warning',
  });
  for (const page of ['index.html', 'bench.html'])
    copyFileSync(join(root, 'web', page), join(out, page));
  copyFileSync(wasm, join(out, 'core.wasm'));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`built ${await buildWeb()}`);
}
