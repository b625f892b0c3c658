// Attack suite, item 4: a local user must not read a node's data directory (the SVMK, wrapped
// keys, every user's SCRAM verifier). At start the node makes directories 0700 and files
// 0600, with a warning for each it fixed; what it creates afterwards is private (umask 077).

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { securePermissions } from '../../host/cli/permissions.ts';
import { createPool, nodeDir } from '../../host/cli/up-command.ts';
import { freePort } from '../../host/testing/free-port.node.ts';
import { CLI, startNodeProcess, stop, until, scratchDir } from '../processes.ts';

const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe('the data directory', () => {
  it('is made 0700 with files 0600 at start, one warning per fix; a private one gives none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsmpool-perm-'));
    mkdirSync(join(dir, 'log'));
    writeFileSync(join(dir, 'svmk'), 'secret');
    writeFileSync(join(dir, 'log', '000001.log'), 'verifiers');
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'log'), 0o755);
    chmodSync(join(dir, 'svmk'), 0o644);
    chmodSync(join(dir, 'log', '000001.log'), 0o644);
    const warnings = securePermissions(dir);
    expect(warnings).toHaveLength(4);
    expect(warnings.join('\n')).toContain('000001.log was mode 0644: made 0600');
    expect(modeOf(dir)).toBe(0o700);
    expect(modeOf(join(dir, 'log'))).toBe(0o700);
    expect(modeOf(join(dir, 'svmk'))).toBe(0o600);
    expect(modeOf(join(dir, 'log', '000001.log'))).toBe(0o600);
    expect(securePermissions(dir)).toEqual([]);
  });
});

describe('a node process', () => {
  const root = scratchDir('proc');

  it('fixes a 0644/0755 data directory at start, with a warning event, and creates only private files', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await createPool(root, 'perm', [address]);
    const dir = nodeDir(root, 0);
    chmodSync(dir, 0o755);
    for (const name of readdirSync(dir)) chmodSync(join(dir, name), 0o644);
    const node = await startNodeProcess(['--data', dir], ['ready']);
    expect(node.events.filter((event) => event.event === 'warning').length).toBeGreaterThan(0);
    const open = (path: string): string[] =>
      readdirSync(path).flatMap((name) => {
        const full = join(path, name);
        const stat = statSync(full);
        const own = (stat.mode & 0o077) !== 0 ? [full] : [];
        return stat.isDirectory() ? [...own, ...open(full)] : own;
      });
    expect(open(dir)).toEqual([]);
    expect(modeOf(dir)).toBe(0o700);
    expect(await stop(node)).toBe(0);
  });

  it('with --console and an open terminal, stops on SIGTERM; with --json, stdout holds only JSON lines', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const poolDir = join(root, 'console');
    await createPool(poolDir, 'term', [address]);
    const child = spawn(
      process.execPath,
      [CLI, 'node', '--data', nodeDir(poolDir, 0), '--console', '--json'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    await until('ready', async () => out.includes('"ready"'));
    child.stdin.write('info\n'); // the terminal stays open: stdin is never ended
    await until('the console answered', async () => out.includes('"console"'));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  }, 30_000);
});
