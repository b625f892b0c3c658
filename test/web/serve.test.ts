// `hsmpool web` serves build/web/ on 127.0.0.1 and prints the page's URL; the page, its worker
// and the core come back with the types a browser needs (a module worker and streaming wasm
// compilation refuse anything else). No browser needed.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { beforeAll, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { CLI } from '../processes.ts';

beforeAll(async () => {
  await buildWeb();
});

it('hsmpool web prints the URL and serves the page, its worker and the core', async () => {
  const child = spawn(process.execPath, [CLI, 'web', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`hsmpool web exited with ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const found = /http:\/\/127\.0\.0\.1:\d+\//.exec(line);
        if (found) resolve(found[0]);
      });
    });
    const types = await Promise.all(
      ['', 'main.js', 'worker.js', 'core.wasm'].map(async (path) => {
        const response = await fetch(`${url}${path}`);
        expect(response.status).toBe(200);
        return response.headers.get('content-type');
      }),
    );
    expect(types).toEqual([
      'text/html; charset=utf-8',
      'text/javascript; charset=utf-8',
      'text/javascript; charset=utf-8',
      'application/wasm',
    ]);
    expect((await fetch(`${url}../../package.json`)).status).not.toBe(200);
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0); // Ctrl-C stops it cleanly, open connections or not
  }
});
