import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { renderReturnCodes } from '../../scripts/gen-return-codes.ts';

it('docs/RETURN_CODES.md lists every code of host/core/codes.ts (run `npm run docs:codes`)', () => {
  expect(readFileSync(new URL('../../docs/RETURN_CODES.md', import.meta.url), 'utf8')).toBe(
    renderReturnCodes(),
  );
});
