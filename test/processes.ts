// Real `hsmpool` processes for the integration tests (build/cli.js on 127.0.0.1): start a node
// and wait for its events, run a remote console command, wait for a condition. Every process
// started here is killed by killAll.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export const CLI = new URL('../build/cli.js', import.meta.url).pathname;
const children: ChildProcess[] = [];

/** Runs `hsmpool node ARGS --json`; resolves once every event in `waitFor` was printed. The
 * events seen are kept on the returned object. */
export function startNodeProcess(
  args: readonly string[],
  waitFor: readonly string[] = ['ready'],
  name = args.join(' '),
): Promise<ChildProcess & { events: { event: string; [field: string]: unknown }[] }> {
  const child = spawn(process.execPath, [CLI, 'node', ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { events: { event: string }[] };
  child.events = [];
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name}: no ${waitFor.join('+')} in 60 s`)),
      60_000,
    );
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        child.events.push(JSON.parse(line) as { event: string });
      } catch {
        return;
      }
      if (waitFor.every((event) => child.events.some((seen) => seen.event === event))) {
        clearTimeout(timer);
        resolve(child as ChildProcess & { events: { event: string; [field: string]: unknown }[] });
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${stderr}`)));
  });
}

/** `hsmpool console --host ADDRESS --user admin --json COMMAND`: its last JSON line. */
export function consoleJson(
  address: string,
  password: string,
  command: string,
): Promise<{ code: number; data: any }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'console', '--host', address, '--user', 'admin', '--json', ...command.split(' ')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, HSMPOOL_PASSWORD: password },
      },
    );
    let out = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    child.once('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch (error) {
        reject(new Error(`console ${command}: ${out} (${error})`));
      }
    });
  });
}

export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** Stops a process and waits for it to exit; its exit code (null when a signal ended it). */
export async function stop(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  child.kill(signal);
  return exited;
}

export function killAll(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}
