// `hsmpool key` and `hsmpool user` against a pool of two real node processes (build/cli.js),
// over a --host list: every SDK operation from the command line, data from --text, files and
// standard input, results to files, standard output and base64, and return codes on failure.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../../host/testing/free-port.node.ts';
import { CLI, freeAddresses, startPool, until, scratchDir } from '../processes.ts';

const data = scratchDir('keycli');

interface Run {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

function cli(args: string[], env: Record<string, string>, stdin?: Uint8Array): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.stdin!.end(stdin ?? undefined);
    child.once('exit', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

it('keys and users from the command line, over a --host list', async () => {
  const [a, b] = await freeAddresses(2);
  const { password } = await startPool(data, 'kc', [a, b]);
  const env = { HSMPOOL_PASSWORD: password, HSMPOOL_NEW_PASSWORD: 'alice-password-1' };
  const common = ['--host', `${a},${b}`, '--user', 'admin'];
  const key = (args: string[], stdin?: Uint8Array) => cli(['key', ...args, ...common], env, stdin);
  const user = (args: string[], extraEnv: Record<string, string> = {}) =>
    cli(['user', ...args, ...common], { ...env, ...extraEnv });
  const json = (run: Run) => JSON.parse(run.stdout.toString().trim().split('\n').pop()!);
  await until('the administrator exists', async () => (await user(['list'])).code === 0);

  // Users.
  expect((await user(['create', 'alice'])).code).toBe(0);
  const listed = json(await user(['list', '--json']));
  expect(listed.users.map((u: { name: string }) => u.name)).toEqual(['admin', 'alice']);
  expect(
    (await user(['password', 'alice'], { HSMPOOL_NEW_PASSWORD: 'alice-password-2' })).code,
  ).toBe(0);
  expect((await user(['unlock', 'alice'])).code).toBe(0);

  // Keys: generate, list, info, sign and verify (a file and --text).
  expect((await key(['generate', 'signer', '--type', 'ec-p256'])).code).toBe(0);
  expect(json(await key(['list', '--json'])).keys.map((k: { name: string }) => k.name)).toEqual([
    'signer',
  ]);
  expect(json(await key(['info', 'signer', '--json'])).key).toMatchObject({
    name: 'signer',
    keyType: 'ec-p256',
    owner: 'admin',
  });
  const sig = join(data, 'sig');
  expect((await key(['sign', 'signer', '--text', 'pay 100', '--out', sig])).code).toBe(0);
  expect(readFileSync(sig).length).toBeGreaterThan(0);
  expect((await key(['verify', 'signer', '--text', 'pay 100', '--signature', sig])).code).toBe(0);
  const forged = await key(['verify', 'signer', '--text', 'pay 999', '--signature', sig]);
  expect(forged.code).toBe(1);
  expect(forged.stdout.toString()).toContain('INVALID');

  // Encrypt from standard input to a file, decrypt from that file to standard output (raw).
  expect((await key(['generate', 'box', '--type', 'aes-256', '--exportable'])).code).toBe(0);
  const sealed = join(data, 'sealed');
  const secret = new TextEncoder().encode('the plaintext');
  expect((await key(['encrypt', 'box', '--in', '-', '--out', sealed], secret)).code).toBe(0);
  const opened = await key(['decrypt', 'box', '--in', sealed, '--out', '-']);
  expect(opened.code).toBe(0);
  expect(opened.stdout.toString()).toBe('the plaintext');

  // MAC, export (base64), import from standard input, grant.
  expect((await key(['generate', 'mac-key', '--type', 'hmac-sha256'])).code).toBe(0);
  const tag = join(data, 'tag');
  expect((await key(['mac', 'mac-key', '--text', 'm', '--out', tag])).code).toBe(0);
  expect((await key(['mac-verify', 'mac-key', '--text', 'm', '--signature', tag])).code).toBe(0);
  expect((await key(['mac-verify', 'mac-key', '--text', 'x', '--signature', tag])).code).toBe(1);
  const exported = json(await key(['export', 'box', '--json']));
  expect(Buffer.from(exported.material, 'base64')).toHaveLength(32);
  const material = new Uint8Array(16).fill(7);
  expect((await key(['import', 'imported', '--type', 'aes-128', '--in', '-'], material)).code).toBe(
    0,
  );
  expect((await key(['grant', 'signer', 'alice', '--use'])).code).toBe(0);
  expect(json(await key(['info', 'signer', '--json'])).key.acl).toEqual([
    { user: 'alice', use: true, export: false, remove: false },
  ]);
  // Export of a key that is not exportable: the pool's return code, exit 1.
  const refused = await key(['export', 'signer']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/\(\d+\)/);

  // Remove; a missing key names its code.
  expect((await key(['remove', 'signer'])).code).toBe(0);
  const missing = await key(['info', 'signer']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('CANNOT_OPEN_OBJ (5004)');
  expect((await user(['remove', 'alice'])).code).toBe(0);
  expect(json(await user(['list', '--json'])).users).toHaveLength(1);

  // Usage and reachability.
  expect((await key(['generate', 'x', '--type', 'des'])).code).toBe(2);
  expect((await key(['frobnicate'])).code).toBe(2);
  const nowhere = await cli(
    ['key', 'list', '--host', `127.0.0.1:${await freePort()}`, '--user', 'admin'],
    env,
  );
  expect(nowhere.code).toBe(4);
}, 180_000);
