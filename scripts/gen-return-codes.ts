// Writes docs/RETURN_CODES.md from host/core/codes.ts, the single table of return codes.
// test/return-codes.test.ts fails when the page is out of date. Usage: npm run docs:codes

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RETURN_CODES } from '../host/core/codes.ts';

export function renderReturnCodes(): string {
  const escape = (text: string): string => text.replaceAll('|', '\\|');
  const lines = [
    '# Return codes',
    '',
    'Every error a user of hsmpool can meet carries one of these stable numbers (generated from',
    '`host/core/codes.ts` by `npm run docs:codes`; a test fails when this page is out of date).',
    "DINAMO's numbers are reused where DINAMO has one (5000s server side, 36000s busy, 37000s",
    "replication); 38xxx are hsmpool's own. Busy codes (36000–36004) are retryable.",
    '',
    '| code | name | meaning | what to do |',
    '| ---: | --- | --- | --- |',
    ...RETURN_CODES.map(
      (entry) =>
        `| ${entry.code} | ${entry.name} | ${escape(entry.meaning)} | ${escape(entry.action)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL('../docs/RETURN_CODES.md', import.meta.url), renderReturnCodes());
  console.log('wrote docs/RETURN_CODES.md');
}
