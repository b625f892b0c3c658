// docs/DINAMO_CODES.md against host/core/codes.ts: every "used as N NAME" is a row with that
// number and name, every DINAMO-range row of the table is accounted for on the page, and the
// one row added for a DINAMO situation (37018 INVALID_EVENT) is what encodeBatch answers.

import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { encodeBatch, type EventType } from '../../host/core/batch.ts';
import { CODE, RETURN_CODES } from '../../host/core/codes.ts';
import { thrownCode } from '../fixtures.ts';

const page = readFileSync(new URL('../../docs/DINAMO_CODES.md', import.meta.url), 'utf8');

/** "used as 5004 CANNOT_OPEN_OBJ", and the later pairs of a "used as" list (1001 INVALID_PARAM, ...). */
function usedAs(): [number, string][] {
  const pairs: [number, string][] = [];
  for (const line of page.split('\n')) {
    const at = line.indexOf('used as ');
    if (at < 0) continue;
    const clause = line.slice(at).split(/:|\(/)[0];
    for (const match of clause.matchAll(/(−?-?\d+) ([A-Z][A-Z0-9_]+)/g))
      pairs.push([Number(match[1].replace('−', '-')), match[2]]);
  }
  return pairs;
}

const isDinamoNumber = (code: number): boolean =>
  code < 0 ||
  (code >= 1001 && code <= 1078) ||
  (code >= 5000 && code < 6000) ||
  (code >= 36000 && code < 38000);

it('every "used as" on the page is a row of the table, and every DINAMO-range row is used', () => {
  const pairs = usedAs();
  const byCode = new Map(RETURN_CODES.map((entry) => [entry.code, entry.name]));
  for (const [code, name] of pairs) expect([code, byCode.get(code)]).toEqual([code, name]);
  const used = new Set(pairs.map(([code]) => code));
  const dinamoRows = RETURN_CODES.filter((entry) => isDinamoNumber(entry.code));
  expect(dinamoRows.filter((entry) => !used.has(entry.code)).map((e) => e.code)).toEqual([]);
});

it('a write naming an undefined event type is refused with 37018 INVALID_EVENT', () => {
  const write = { event: 'BLOCK_OBJ' as EventType, operations: [] };
  expect(thrownCode(() => encodeBatch([write]))).toBe(CODE.INVALID_EVENT);
  expect(CODE.INVALID_EVENT).toBe(37018);
  expect(encodeBatch([{ event: 'CREATE_OBJ', operations: [] }])[4]).toBe(4);
});
