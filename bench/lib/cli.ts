// What every bench script does at its edges: read its `--name value` options, and save what
// it measured in bench/results/ (next to the scripts, whatever the working directory).

import { mkdirSync, writeFileSync } from 'node:fs';

/** The value after `--name` on the command line, or `fallback` when the option is not given. */
export function stringOption(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}

/** A numeric option; anything but a finite number stops the bench with the option named. */
export function numberOption(name: string, fallback: number): number {
  const text = stringOption(name, String(fallback));
  const value = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(value))
    throw new RangeError(`--${name}: expected a number, got ${JSON.stringify(text ?? null)}`);
  return value;
}

const RESULTS = new URL('../results/', import.meta.url);

/** bench/results/NAME. */
export const resultPath = (name: string): URL => new URL(name, RESULTS);

/** Writes bench/results/NAME: text as it is, anything else as indented JSON and a newline. */
export function writeResult(name: string, content: unknown): URL {
  mkdirSync(RESULTS, { recursive: true });
  const path = resultPath(name);
  const text = typeof content === 'string' ? content : JSON.stringify(content, null, 2) + '\n';
  writeFileSync(path, text);
  return path;
}
