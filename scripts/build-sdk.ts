// Builds the SDK as a package (issue 15): build/sdk/node.js and build/sdk/browser.js, bundled
// by esbuild with the dependencies (@noble/*, ws) left as imports, and the type declarations
// under build/sdk/types/ (tsc, with the source's `.ts` import specifiers rewritten to `.js`
// so that a consumer's TypeScript resolves them). package.json's `exports` names these files.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'build', 'sdk');

export async function buildSdk(): Promise<string> {
  rmSync(out, { recursive: true, force: true });
  const common = {
    bundle: true,
    format: 'esm' as const,
    target: 'es2022',
    packages: 'external' as const,
    logLevel: 'warning' as const,
  };
  await build({
    ...common,
    entryPoints: [join(root, 'host/client/package.node.ts')],
    platform: 'node',
    outfile: join(out, 'node.js'),
  });
  await build({
    ...common,
    entryPoints: [join(root, 'host/client/package-browser.ts')],
    platform: 'browser',
    outfile: join(out, 'browser.js'),
  });
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.sdk.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  const types = join(out, 'types');
  for (const file of readdirSync(types, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.d.ts')) continue;
    const path = join(types, file);
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace(/(from\s+['"]\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1.js$2'));
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`built ${await buildSdk()}`);
}
