// The envelope micro-bench (issue 16, commit path): what JSON + base64 peer envelopes cost per
// commit. Builds the four messages of a 2PC round for a 3-node pool (PREPARE with a batch the
// size of one generateKey, VOTE, DECISION, ACK), and times encodeEnvelope and decodeEnvelope
// of each, next to sealing and opening the same bytes with ChaCha20-Poly1305 (noble and
// node:crypto), so the codec's share can be judged against the frame AEAD in the same run.
// Prints per-message figures and the coordinator's total per commit (2 PREPARE and 2 DECISION
// encoded, 2 VOTE and 2 ACK decoded). Times are medians of REPETITIONS rounds; nothing asserts.
// Usage: npx tsx bench/envelope.ts [--batch BYTES]

import { decodeEnvelope, encodeEnvelope } from '../host/transport/envelope-codec.ts';
import type { Envelope, MessageBody } from '../host/protocol/types.ts';
import { NOBLE_CHACHA, type ChaChaAead } from '../host/wire/crypto-engine.ts';
import { NODE_CHACHA } from '../host/wire/crypto-engine.node.ts';
import { toNodeId, toTxId } from '../host/wire/ids.ts';
import { numberOption } from './lib/cli.ts';
import { uptimeLine } from './lib/machine.ts';
import { randomBytes, repeat, seededRandom } from './lib/stats.ts';

const SEED = 20261205;
const REPETITIONS = 9;
const CALLS = 20_000;
/** A generateKey batch: one object record with a 61-byte wrapped key, names and an ACL. */
const BATCH_BYTES = numberOption('batch', 256);

const next = seededRandom(SEED);
const hex = (digits: number): string =>
  Array.from({ length: digits }, () => (next() & 15).toString(16)).join('');
const ids = [hex(16), hex(16), hex(16)].map(toNodeId);
const txid = toTxId(hex(16));
const batch = randomBytes(BATCH_BYTES, next);

function envelope(body: MessageBody, from = ids[0], to = ids[1]): Envelope {
  return { from, to, epoch: 3, digest: hex(16), sp: 0x1234_5678_9abc_def0n, spvv: 2, body };
}
const messages: [string, Envelope][] = [
  [
    'prepare',
    envelope({
      type: 'prepare',
      tx: {
        txid,
        epoch: 3,
        coordinator: ids[0],
        participants: [ids[1], ids[2]],
        nodes: ids.map((id, i) => ({ id, address: `127.0.0.1:${7001 + i}` })),
        spBefore: 0x1234_5678_9abc_def0n,
        spvvBefore: 2,
        spAfter: 0x0fed_cba9_8765_4321n,
        spvvAfter: 2,
        tick: 123_456,
        event: 7,
        sourceUser: 'admin',
        target: 'w12345-678-abcdef',
        batch,
      },
    }),
  ],
  ['vote', envelope({ type: 'vote', txid, yes: true, code: 0 }, ids[1], ids[0])],
  ['decision', envelope({ type: 'decision', txid, commit: true })],
  ['ack', envelope({ type: 'ack', txid }, ids[1], ids[0])],
];

/** Median microseconds per call of `body` over CALLS calls. */
function microseconds(body: () => void): number {
  return (
    (repeat(REPETITIONS, () => {
      for (let i = 0; i < CALLS; i++) body();
    }).medianSeconds *
      1e6) /
    CALLS
  );
}

const key = new Uint8Array(32).fill(1);
const nonce = new Uint8Array(12);
const header = new Uint8Array(9);
const aeadPair = (aead: ChaChaAead, bytes: Uint8Array): number =>
  microseconds(() => aead.open(key, nonce, header, aead.seal(key, nonce, header, bytes)));

console.log(uptimeLine());
console.log(`batch ${BATCH_BYTES} bytes; medians of ${REPETITIONS} × ${CALLS} calls; µs per call`);
console.log('message    bytes  encode  decode  seal+open noble  seal+open node:crypto');
const cost = new Map<string, { encode: number; decode: number }>();
for (const [name, message] of messages) {
  const bytes = encodeEnvelope(message);
  const encode = microseconds(() => encodeEnvelope(message));
  const decode = microseconds(() => decodeEnvelope(bytes));
  cost.set(name, { encode, decode });
  console.log(
    `${name.padEnd(9)} ${String(bytes.length).padStart(6)} ${encode.toFixed(2).padStart(7)} ${decode.toFixed(2).padStart(7)} ${aeadPair(NOBLE_CHACHA, bytes).toFixed(2).padStart(16)} ${aeadPair(NODE_CHACHA, bytes).toFixed(2).padStart(22)}`,
  );
}
const c = (name: string) => cost.get(name)!;
const coordinator =
  2 * (c('prepare').encode + c('decision').encode + c('vote').decode + c('ack').decode);
const participant = c('prepare').decode + c('decision').decode + c('vote').encode + c('ack').encode;
console.log(
  `per commit: coordinator ${coordinator.toFixed(1)} µs, each participant ${participant.toFixed(1)} µs, all three ${(coordinator + 2 * participant).toFixed(1)} µs of envelope codec`,
);
