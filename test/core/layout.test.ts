// The host mirrors the core's limits and codes; these checks keep the two from drifting.

import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RETURN_CODES } from '../../host/core/codes.ts';
import * as layout from '../../host/core/layout.ts';
import * as txlogLayout from '../../host/core/txlog-layout.ts';

const source = (path: string): string =>
  readFileSync(new URL(`../../assembly/${path}`, import.meta.url), 'utf8');

/** `export const NAME: type = expression;` where the expression is a number or a shift. */
function constants(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const match of text.matchAll(/export const (\w+): \w+ = ([^;]+);/g)) {
    const expression = match[2].trim();
    if (/^[\d\s<>()_*+x]+$/.test(expression))
      found.set(match[1], Function(`return (${expression.replaceAll('_', '')});`)());
  }
  return found;
}

/** Every numeric `const NAME = expression;` of every file in assembly/, exported or not (the
 * result-area offsets are module-private in index.ts): name -> the values files give it. */
function allConstants(): Map<string, Set<number>> {
  const found = new Map<string, Set<number>>();
  for (const file of readdirSync(new URL('../../assembly/', import.meta.url))) {
    if (!file.endsWith('.ts')) continue;
    const text = source(file);
    for (const match of text.matchAll(/^(?:export )?const (\w+)(?::\s*\w+)?\s*=\s*([^;]+);/gm)) {
      const expression = match[2].trim();
      if (!/^[\d\s<>()_*+x]+$/.test(expression)) continue;
      const value = Function(`return (${expression.replaceAll('_', '')});`)() as number;
      found.set(match[1], (found.get(match[1]) ?? new Set()).add(value));
    }
  }
  return found;
}

describe('host mirrors of the core', () => {
  it('every constant in host/core/layout.ts, result-area offsets included, is the one in assembly/', () => {
    const core = allConstants();
    const mirrored = Object.entries(layout);
    expect(mirrored.length).toBeGreaterThan(30);
    // One value in assembly/ (a name two files give different values would be ambiguous).
    for (const [name, value] of mirrored)
      expect([name, [...(core.get(name) ?? [])]]).toEqual([name, [value]]);
  });

  it('every limit in assembly/limits.ts has the same value in host/core/layout.ts', () => {
    const limits = constants(source('limits.ts'));
    expect(limits.size).toBeGreaterThan(10);
    for (const [name, value] of limits)
      expect([name, (layout as Record<string, unknown>)[name]]).toEqual([name, value]);
  });

  it("every log header, scan state and scan result offset in host/core/txlog-layout.ts is the core's", () => {
    const core = new Map([...constants(source('txlog.ts')), ...constants(source('txlog-scan.ts'))]);
    const mirrored = Object.entries(txlogLayout);
    expect(mirrored.length).toBeGreaterThan(30);
    for (const [name, value] of mirrored) expect([name, core.get(name)]).toEqual([name, value]);
  });

  it('every code in assembly/ is in the host table with the same name', () => {
    const codes = new Map<string, number>();
    for (const file of ['codes.ts'])
      for (const [name, value] of constants(source(file))) codes.set(name, value);
    expect(codes.size).toBeGreaterThan(20);
    const byNumber = new Map(RETURN_CODES.map((entry) => [entry.code, entry.name]));
    for (const [name, value] of codes) expect([value, byNumber.get(value)]).toEqual([value, name]);
  });

  it('return codes are unique', () => {
    expect(new Set(RETURN_CODES.map((entry) => entry.code)).size).toBe(RETURN_CODES.length);
    expect(new Set(RETURN_CODES.map((entry) => entry.name)).size).toBe(RETURN_CODES.length);
  });
});
