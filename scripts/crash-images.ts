// npm run crash-images -- [--histories N] [--seed S] [--dir DIR]
// The crash-image check (host/testing/crash-images.node.ts): N multi-node histories over FileStorage,
// every disk image a crash could leave recovered and compared with the durable prefix. Prints
// the figures; on a failure prints each one (seed, node, call) and exits 1. --dir puts the
// temp directories elsewhere (a tmpfs such as /dev/shm runs it without waiting on fsync).

import { runHistory } from '../host/testing/crash-images.node.ts';
import { keyedCore, sampleObject } from '../test/fixtures.ts';

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const SVMK = new Uint8Array(32).fill(0x24);
const factory = () => keyedCore('release', SVMK);
const codec = factory();
const record = (name: string): Uint8Array =>
  codec.encode({ ...sampleObject(name), wrapped: new Uint8Array(40).fill(name.length) });

const histories = Number(argument('histories') ?? 10);
const first = Number(argument('seed') ?? 1);
if (!Number.isSafeInteger(histories) || histories < 1) {
  console.error(`--histories: a positive integer, got ${argument('histories')}`);
  process.exit(2);
}
const started = performance.now();
let calls = 0;
let images = 0;
let checkpoints = 0;
let committed = 0;
let failures = 0;
for (let seed = first; seed < first + histories; seed++) {
  const result = await runHistory({
    seed,
    newCore: factory,
    svmk: SVMK,
    record,
    directory: argument('dir'),
  });
  calls += result.calls;
  images += result.images;
  checkpoints += result.checkpoints;
  committed += result.committed;
  for (const failure of result.failures.slice(0, 10)) console.log(failure);
  if (result.failures.length > 0) {
    console.log(`seed ${seed}: ${result.failures.length} images recover wrongly`);
    failures++;
  }
  if ((seed - first + 1) % 25 === 0)
    console.log(
      `... ${seed - first + 1} histories, ${images} images, ${failures} failed, ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
}
console.log(
  `${histories} histories from seed ${first}: ${histories - failures} passed, ${failures} failed; ` +
    `${committed} writes committed, ${checkpoints} checkpoints, ${calls} storage calls, ${images} crash images recovered; ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s`,
);
process.exit(failures === 0 ? 0 : 1);
