// The SDK as a package (issue 15): `npm pack`, the tarball unpacked into a separate project,
// `import { HsmClient } from 'hsmpool'` from plain JavaScript against a real node process with
// the default connections (no `connections` passed), and the package's type declarations
// checked by tsc from a TypeScript consumer.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPool, nodeDir } from '../../host/cli/up-command.ts';
import { freePort } from '../../host/testing/free-port.node.ts';
import { buildSdk } from '../../scripts/build-sdk.ts';
import { killAll, startNodeProcess } from '../processes.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
// Inside the checkout (under the ignored .hsmpool/), so the package's own dependencies
// (@noble/*, ws) resolve from this checkout's node_modules, as an installed package's would.
mkdirSync(join(root, '.hsmpool'), { recursive: true });
const work = mkdtempSync(join(root, '.hsmpool', 'package-'));
const project = join(work, 'app');

beforeAll(async () => {
  if (!existsSync(join(root, 'build/sdk/node.js'))) await buildSdk();
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
    }),
  ) as { filename: string; files: { path: string }[] }[];
  const paths = packed[0].files.map((file) => file.path);
  expect(paths).toContain('build/sdk/node.js');
  expect(paths).toContain('build/sdk/types/client/package.node.d.ts');
  expect(paths.some((path) => path.startsWith('host/') || path.startsWith('test/'))).toBe(false);
  const installed = join(project, 'node_modules', 'hsmpool');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', [
    '-xzf',
    join(work, packed[0].filename),
    '-C',
    installed,
    '--strip-components=1',
  ]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
}, 120_000);

afterAll(() => {
  killAll();
  rmSync(work, { recursive: true, force: true });
});

it("an application imports 'hsmpool' by name and talks to a real node with the default connections", async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const data = join(work, 'pool');
  const password = await createPool(data, 'pk', [address]);
  await startNodeProcess(['--data', nodeDir(data, 0)], ['ready'], 'node');
  writeFileSync(
    join(project, 'app.mjs'),
    `import { HsmClient, HsmError } from 'hsmpool';
const [address, password] = process.argv.slice(2);
const client = await HsmClient.connect({ nodes: [address], user: 'admin', password });
await client.generateKey('pkg_key', 'ec-p256');
const signature = await client.sign('pkg_key', new TextEncoder().encode('hello'));
let refused = 0;
try { await client.sign('no_such_key', new Uint8Array(1)); } catch (e) { refused = e instanceof HsmError ? e.code : -1; }
console.log(JSON.stringify({ signatureBytes: signature.length, refused }));
await client.close();
`,
  );
  const run = spawnSync(process.execPath, ['app.mjs', address, password], {
    cwd: project,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.stderr).toBe('');
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
  expect(result.signatureBytes).toBeGreaterThanOrEqual(64);
  expect(result.refused).toBe(5004); // CANNOT_OPEN_OBJ: the package's HsmError is the SDK's
}, 120_000);

it("the package's type declarations serve a TypeScript consumer, for Node and for browsers", () => {
  writeFileSync(
    join(project, 'app.ts'),
    `import { HsmClient, type KeyType, type HsmClientOptions } from 'hsmpool';
import { HsmClient as BrowserClient } from 'hsmpool/browser';
const type: KeyType = 'ec-p256';
const options: HsmClientOptions = { nodes: ['127.0.0.1:1'], user: 'u', password: 'p' };
export const pending: Promise<HsmClient> = HsmClient.connect(options);
export const same: typeof BrowserClient = HsmClient;
export { type };
`,
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        strict: true,
        noEmit: true,
        types: [],
      },
      files: ['app.ts'],
    }),
  );
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', project],
    {
      encoding: 'utf8',
    },
  );
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);
});
