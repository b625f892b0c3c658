// No return-code number outside host/core/codes.ts: code names codes as CODE.NAME, so a search
// for a name finds every use, and a number cannot drift from the table. Scans the sources with
// the TypeScript parser, so numbers in comments and strings do not count, and 36_000 or 0x8ca0
// do. Tests keep literal numbers where they assert the documented number (a golden check).

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CODE, RETURN_CODES } from '../../host/core/codes.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SCANNED_FOLDERS = ['host', 'web', 'scripts', 'bench'];
const TABLE_FILE = 'host/core/codes.ts';

/** A number is a code literal if it is 36000-38999 (DINAMO's replication codes and hsmpool's
 * own), or one of the table's 5xxx server codes (5000 itself, a common timeout, is not one). */
const SERVER_CODES = new Set(
  RETURN_CODES.filter((entry) => entry.code >= 5000 && entry.code < 6000).map((e) => e.code),
);
function isCodeNumber(value: number): boolean {
  return (value >= 36_000 && value < 39_000) || SERVER_CODES.has(value);
}

interface CodeLiteral {
  readonly line: number;
  readonly text: string;
}

/** The numeric literals in `source` that are return codes, with their 1-based lines. */
function findCodeLiterals(source: string, fileName = 'source.ts'): CodeLiteral[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const found: CodeLiteral[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isNumericLiteral(node) && isCodeNumber(Number(node.text))) {
      const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
      found.push({ line: line + 1, text: node.getText(file) });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|js|mjs)$/.test(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).replaceAll('\\', '/'));
}

describe('return-code literals', () => {
  it('finds code numbers in code, not in comments or strings', () => {
    const fixture = [
      '// 36000 in a comment',
      "const text = 'busy (36000)';",
      'const BUSY = 36000;',
      'if (code === 38_601 || code === 0x8ca0) fail(5306);',
      'const port = 7001, size = 65536, timeoutMs = 5000;',
      'const line = `refused (${37017})`;',
      'return -38106;',
    ].join('\n');
    expect(findCodeLiterals(fixture)).toEqual([
      { line: 3, text: '36000' },
      { line: 4, text: '38_601' },
      { line: 4, text: '0x8ca0' },
      { line: 4, text: '5306' },
      { line: 6, text: '37017' },
      { line: 7, text: '38106' },
    ]);
  });

  it('appear nowhere outside host/core/codes.ts (use CODE.NAME)', () => {
    const offenders = SCANNED_FOLDERS.flatMap(sourceFiles)
      .filter((path) => path !== TABLE_FILE)
      .flatMap((path) =>
        findCodeLiterals(readFileSync(join(ROOT, path), 'utf8'), path).map(
          (literal) => `${path}:${literal.line}: ${literal.text}`,
        ),
      );
    expect(offenders).toEqual([]);
  });

  it('CODE has one entry per row of the table: names and numbers are unique', () => {
    expect(new Set(RETURN_CODES.map((entry) => entry.name)).size).toBe(RETURN_CODES.length);
    expect(new Set(RETURN_CODES.map((entry) => entry.code)).size).toBe(RETURN_CODES.length);
    expect(Object.keys(CODE)).toHaveLength(RETURN_CODES.length);
    for (const entry of RETURN_CODES)
      expect(CODE[entry.name as keyof typeof CODE]).toBe(entry.code);
  });
});
