// The import rules of host/ (scripts/layers.ts, docs/DESIGN.md "Layers"): no cycle between
// files or folders, no import upward, the SDK on wire/ and the codes only, Node-only code
// only in cli/ and *.node.ts. `npm run check:layers` prints the same report.

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALLOWED_IMPORTS, checkLayers, cycles } from '../scripts/layers.ts';

const HOST = fileURLToPath(new URL('../host', import.meta.url));

describe('layers', () => {
  const report = checkLayers(HOST);

  it('reads the whole tree', () => {
    expect(report.files).toBeGreaterThan(100);
    expect(report.imports).toBeGreaterThan(400);
  });

  it('has no import cycle between files or between folders', () => {
    expect(report.fileCycles).toEqual([]);
    expect(report.folderCycles).toEqual([]);
  });

  it('imports only downward, and the SDK and browser code only what they may', () => {
    expect(report.upward).toEqual([]);
    expect(report.client).toEqual([]);
    expect(report.nodeOnly).toEqual([]);
  });

  it('finds a cycle where there is one, type-only edges included when asked', () => {
    const edge = (from: string, to: string) => ({ from, to, typeOnly: false });
    expect(cycles(['a', 'b', 'c'], [edge('a', 'b'), edge('b', 'c'), edge('c', 'a')])).toEqual([
      ['a', 'b', 'c'],
    ]);
    expect(cycles(['a', 'b', 'c'], [edge('a', 'b'), edge('b', 'c')])).toEqual([]);
  });

  it('the allowed imports are themselves acyclic (a lower folder never lists a higher one)', () => {
    const folders = Object.keys(ALLOWED_IMPORTS);
    const edges = folders.flatMap((from) =>
      ALLOWED_IMPORTS[from].map((to) => ({ from, to, typeOnly: false })),
    );
    expect(cycles(folders, edges)).toEqual([]);
  });
});
