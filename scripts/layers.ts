// The import rules of host/ (docs/DESIGN.md "Layers"): imports run downward only, no import
// cycle between files or between folders, the SDK sees only wire/ and the return codes, and
// Node-only code is cli/ or *.node.ts. `npm run check:layers` prints the report;
// test/layers.test.ts fails on any violation.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The product's folders, lowest first (what testing/ and cli/ may all import). */
const PRODUCT = [
  'core',
  'wire',
  'protocol',
  'storage',
  'log',
  'transport',
  'service',
  'client',
  'appliance',
  'backup',
  'server',
] as const;

/** The folders of host/, lowest first, and the folders each may import from. */
export const ALLOWED_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  core: [],
  wire: ['core'],
  protocol: ['core', 'wire'],
  storage: ['core', 'wire'],
  log: ['core', 'wire', 'protocol', 'storage'],
  transport: ['core', 'wire', 'protocol'],
  service: ['core', 'wire', 'protocol'],
  client: ['core', 'wire'],
  appliance: ['core', 'wire', 'protocol', 'storage', 'log', 'transport', 'service'],
  backup: ['core', 'wire', 'protocol', 'storage', 'log'],
  server: PRODUCT.filter((folder) => !['server', 'client'].includes(folder)),
  sim: ['core', 'wire', 'protocol', 'storage', 'log', 'transport', 'appliance'],
  // Harnesses may use every product folder and the simulator; the command line, everything.
  testing: [...PRODUCT, 'sim'],
  cli: [...PRODUCT, 'sim', 'testing'],
};

/** What the SDK may take from core/: the return codes, the release and record types. */
export const CLIENT_CORE_FILES: readonly string[] = [
  'core/codes.ts',
  'core/version.ts',
  'core/records.ts',
];

/** Node's built-in modules and the Node-only packages a browser module must not import. */
const NODE_ONLY_PACKAGES = /^(node:|ws$)/;

export interface Edge {
  readonly from: string;
  readonly to: string;
  /** `import type` / `export type`: erased at build, so it orders no module loading. */
  readonly typeOnly: boolean;
}

const IMPORT =
  /(?:^|[^\w.])(?:import|export)\s+(type\s)?[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

/** Every import of every .ts file under `hostDir`, paths relative to it (packages as named). */
export function importsOf(hostDir: string): { files: string[]; edges: Edge[] } {
  const files = readdirSync(hostDir, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))
    .sort();
  const edges: Edge[] = [];
  for (const file of files) {
    const text = readFileSync(join(hostDir, file), 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[2] ?? match[3] ?? match[4];
      const to = specifier.startsWith('.')
        ? relative(hostDir, resolve(hostDir, dirname(file), specifier))
        : specifier;
      edges.push({ from: file, to, typeOnly: match[1] !== undefined });
    }
  }
  return { files, edges };
}

/** The folder of a host/ file: its first path segment. */
export const folderOf = (file: string): string => file.split('/')[0];

/** Strongly connected components of more than one vertex (or a self-loop): the cycles. */
export function cycles(vertices: readonly string[], edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>(vertices.map((v) => [v, []]));
  for (const { from, to } of edges) if (next.has(to) && from !== to) next.get(from)!.push(to);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of vertices) if (!index.has(v)) visit(v);
  return found;
}

export interface LayerReport {
  readonly files: number;
  readonly imports: number;
  /** Cycles of files over the imports that load code (import type excluded). */
  readonly fileCycles: string[][];
  readonly folderCycles: string[][];
  /** Imports that run upward or sideways, against ALLOWED_IMPORTS. */
  readonly upward: string[];
  /** Browser-side files that import Node-only code. */
  readonly nodeOnly: string[];
  /** SDK files that import core/ beyond CLIENT_CORE_FILES. */
  readonly client: string[];
}

const isNodeOnlyFile = (file: string): boolean =>
  folderOf(file) === 'cli' || file.endsWith('.node.ts');

export function checkLayers(hostDir: string): LayerReport {
  const { files, edges } = importsOf(hostDir);
  const local = edges.filter((edge) => files.includes(edge.to));
  const folders = [...new Set(files.map(folderOf))].sort();
  const folderEdges = local
    .map((edge) => ({ ...edge, from: folderOf(edge.from), to: folderOf(edge.to) }))
    .filter((edge) => edge.from !== edge.to);
  const upward: string[] = [];
  const nodeOnly: string[] = [];
  const client: string[] = [];
  for (const edge of edges) {
    const from = folderOf(edge.from);
    if (files.includes(edge.to)) {
      const to = folderOf(edge.to);
      const allowed = ALLOWED_IMPORTS[from];
      if (from !== to && (!allowed || !allowed.includes(to)))
        upward.push(`${edge.from} -> ${edge.to}`);
      if (from === 'client' && to === 'core' && !CLIENT_CORE_FILES.includes(edge.to))
        client.push(`${edge.from} -> ${edge.to}`);
      if (!isNodeOnlyFile(edge.from) && isNodeOnlyFile(edge.to))
        nodeOnly.push(`${edge.from} -> ${edge.to}`);
    } else if (!isNodeOnlyFile(edge.from) && NODE_ONLY_PACKAGES.test(edge.to)) {
      nodeOnly.push(`${edge.from} -> ${edge.to}`);
    }
  }
  for (const folder of folders)
    if (!(folder in ALLOWED_IMPORTS)) upward.push(`${folder}/ has no row in ALLOWED_IMPORTS`);
  return {
    files: files.length,
    imports: local.length,
    // Within a folder, a type-only import loads nothing; between folders every import counts.
    fileCycles: cycles(
      files,
      local.filter((edge) => !edge.typeOnly),
    ),
    folderCycles: cycles(folders, folderEdges),
    upward,
    nodeOnly,
    client,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const report = checkLayers(fileURLToPath(new URL('../host', import.meta.url)));
  console.log(`${report.files} files, ${report.imports} imports between them`);
  console.log(`file cycles: ${report.fileCycles.length}`);
  for (const cycle of report.fileCycles) console.log(`  ${cycle.join(' <-> ')}`);
  console.log(`folder cycles: ${report.folderCycles.length}`);
  for (const cycle of report.folderCycles) console.log(`  ${cycle.join(' <-> ')}`);
  console.log(`upward imports: ${report.upward.length}`);
  for (const line of report.upward) console.log(`  ${line}`);
  console.log(`Node-only imports from browser code: ${report.nodeOnly.length}`);
  for (const line of report.nodeOnly) console.log(`  ${line}`);
  console.log(`SDK imports of core/ beyond the codes: ${report.client.length}`);
  for (const line of report.client) console.log(`  ${line}`);
  const bad =
    report.fileCycles.length +
    report.folderCycles.length +
    report.upward.length +
    report.nodeOnly.length +
    report.client.length;
  process.exitCode = bad === 0 ? 0 : 1;
}
