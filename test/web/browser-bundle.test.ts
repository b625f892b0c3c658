// Everything under host/ except cli/ and *.node.ts files must run in a browser, and so must
// the page (web/, except its *.node.ts static server). Nothing else is exempt: a Node-only
// module is named *.node.ts, so the exemption can be seen from the tree.
// esbuild bundles each such module for the browser platform: a node:* import (direct or
// through a dependency) fails the build and this test.

import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Node-only places: the command line and files named *.node.ts, nothing else. */
const NODE_ONLY = [/^host\/cli\//, /\.node\.ts$/];

const sources = (folder: string): string[] =>
  readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts'))
    .map((path) => join(root, folder, path));

describe('browser bundle', () => {
  it('bundles every browser-side module of host/ for the browser platform', async () => {
    const entryPoints = [...sources('host'), ...sources('web')].filter(
      (path) => !NODE_ONLY.some((pattern) => pattern.test(relative(root, path))),
    );
    expect(entryPoints.length).toBeGreaterThan(3);
    const result = await build({
      entryPoints,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      outdir: 'out',
      logLevel: 'silent',
      metafile: true,
    });
    expect(result.errors).toEqual([]);
    const imported = Object.values(result.metafile!.inputs).flatMap((input) =>
      input.imports.map((i) => i.path),
    );
    expect(imported.filter((path) => path.startsWith('node:'))).toEqual([]);
  });
});
