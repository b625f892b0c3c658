// Writes docs/RETURN_CODES.md from host/core/codes.ts, the single table of return codes.
// test/core/return-codes.test.ts fails when the page is out of date. Usage: npm run docs:codes

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RETURN_CODES, writeOutcome } from '../host/core/codes.ts';

export function renderReturnCodes(): string {
  const escape = (text: string): string => text.replaceAll('|', '\\|');
  const lines = [
    '# Return codes',
    '',
    'Every error a user of hsmpool can meet carries one of these stable numbers (generated from',
    '`host/core/codes.ts` by `npm run docs:codes`; a test fails when this page is out of date).',
    "DINAMO's numbers are reused where DINAMO has one (5000s server side, 36000s busy, 37000s",
    "replication); 38xxx are hsmpool's own. Busy codes (36000–36004) are retryable.",
    'docs/DINAMO_CODES.md maps every DINAMO code our reference names: used here, covered by',
    'another code, or no such situation, and why.',
    '',
    'The column "a write answered this is" says what the code tells about a write (docs/CLIENT.md',
    '"Outcomes"): **committed**; **not committed** (refused before it was queued, withdrawn from',
    'the queue, aborted, or run and failed: it will not commit from this call); or **unknown** (it',
    'may still commit or abort: learn the outcome with `client.outcome(requestId)`, or send the same',
    'write again with the same request id).',
    '',
    '| code | name | meaning | what to do | a write answered this is |',
    '| ---: | --- | --- | --- | --- |',
    ...RETURN_CODES.map(
      (entry) =>
        `| ${entry.code} | ${entry.name} | ${escape(entry.meaning)} | ${escape(entry.action)} | ${writeOutcome(entry.code)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL('../docs/RETURN_CODES.md', import.meta.url), renderReturnCodes());
  console.log('wrote docs/RETURN_CODES.md');
}
