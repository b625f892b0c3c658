// The crypto benchmark (issue 6, "Keys and operations"): for every operation the HSM service
// serves, the pure-JavaScript implementation (@noble) against WebCrypto (native in Node and
// browsers), side by side in one run, written to bench/results/crypto.json.
//   npm run bench:crypto
// host/service/crypto-choice.ts records which one the service uses; re-run this when Node or
// the libraries change and update it if a winner changes. WebCrypto is measured the way the
// service uses it: with the CryptoKey imported once and cached (the import cost is its own row).
// Every message and key comes from the printed seed.

import { performance } from 'node:perf_hooks';
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { writeResult } from './lib/cli.ts';
import { loadAverage, machineInfo } from './lib/machine.ts';
import { seededRandom, summarize } from './lib/stats.ts';
import { toBase64Url } from '../host/wire/bytes.ts';

const SEED = 20261123;
const REPETITIONS = 5;
/** Wall time each repetition aims at; operation counts are derived from a calibration run. */
const REPETITION_TARGET_SECONDS = 0.25;
const OPERATIONS_PER_REPETITION_MAX = 200_000;
const MESSAGE_SIZES = [64, 256, 1024, 4096, 16384, 65536] as const;

const subtle = globalThis.crypto.subtle;

const next = seededRandom(SEED);

function seededBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = next() & 0xff;
  return out;
}

/** A key the measured operations use: imported once, before, not extractable (the way the
 * service caches its CryptoKeys). Key imports that are measured call subtle.importKey. */
const setupKey = (
  format: 'raw' | 'pkcs8',
  data: BufferSource,
  algorithm: Parameters<typeof subtle.importKey>[2],
  usages: KeyUsage[],
): Promise<CryptoKey> => subtle.importKey(format, data, algorithm, false, usages);

type Operation = () => unknown;

interface Row {
  readonly operation: string;
  readonly implementation: 'noble' | 'webcrypto';
  readonly microsecondsBest: number;
  readonly microsecondsMedian: number;
  readonly operationsPerRepetition: number;
}

/** Microseconds per call of an operation (awaited one at a time, the way a session runs them). */
async function measure(
  operation: Operation,
): Promise<{ best: number; median: number; count: number }> {
  await operation();
  const start = performance.now();
  await operation();
  const oneSeconds = Math.max((performance.now() - start) / 1000, 1e-6);
  const count = Math.max(
    1,
    Math.min(OPERATIONS_PER_REPETITION_MAX, Math.round(REPETITION_TARGET_SECONDS / oneSeconds)),
  );
  const seconds: number[] = [];
  for (let repetition = 0; repetition < REPETITIONS; repetition++) {
    const begin = performance.now();
    for (let i = 0; i < count; i++) await operation();
    seconds.push((performance.now() - begin) / 1000 / count);
  }
  const samples = summarize(seconds);
  return { best: samples.bestSeconds * 1e6, median: samples.medianSeconds * 1e6, count };
}

const rows: Row[] = [];

async function compare(
  operation: string,
  noble: Operation | undefined,
  webcrypto: Operation | undefined,
): Promise<void> {
  for (const [implementation, body] of [
    ['noble', noble],
    ['webcrypto', webcrypto],
  ] as const) {
    if (!body) continue;
    const figure = await measure(body);
    rows.push({
      operation,
      implementation,
      microsecondsBest: figure.best,
      microsecondsMedian: figure.median,
      operationsPerRepetition: figure.count,
    });
    console.log(
      `${operation.padEnd(44)} ${implementation.padEnd(9)} ${figure.best.toFixed(1).padStart(10)} µs (median ${figure.median.toFixed(1)})`,
    );
  }
}

async function symmetric(): Promise<void> {
  const aesKeyBytes = seededBytes(32);
  const aesKey = await setupKey('raw', aesKeyBytes, 'AES-GCM', ['encrypt', 'decrypt']);
  const hmacKeyBytes = seededBytes(32);
  const hmacKey = await setupKey('raw', hmacKeyBytes, { name: 'HMAC', hash: 'SHA-256' }, ['sign']);
  const nonce = seededBytes(12);
  for (const size of MESSAGE_SIZES) {
    const message = seededBytes(size);
    const sealed = gcm(aesKeyBytes, nonce).encrypt(message);
    await compare(
      `AES-256-GCM encrypt ${size} B`,
      () => gcm(aesKeyBytes, nonce).encrypt(message),
      () => subtle.encrypt({ name: 'AES-GCM', iv: nonce }, aesKey, message),
    );
    await compare(
      `AES-256-GCM decrypt ${size} B`,
      () => gcm(aesKeyBytes, nonce).decrypt(sealed),
      () => subtle.decrypt({ name: 'AES-GCM', iv: nonce }, aesKey, sealed),
    );
    await compare(
      `HMAC-SHA-256 ${size} B`,
      () => hmac(sha256, hmacKeyBytes, message),
      () => subtle.sign('HMAC', hmacKey, message),
    );
  }
  await compare('AES-256-GCM key import (WebCrypto importKey)', undefined, () =>
    subtle.importKey('raw', aesKeyBytes, 'AES-GCM', false, ['encrypt', 'decrypt']),
  );
}

async function ecdsa(): Promise<void> {
  const message = seededBytes(1024);
  const secret = p256.utils.randomSecretKey(seededBytes(48));
  const publicKey = p256.getPublicKey(secret, false);
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    d: toBase64Url(secret),
    x: toBase64Url(publicKey.slice(1, 33)),
    y: toBase64Url(publicKey.slice(33)),
  };
  const curve = { name: 'ECDSA', namedCurve: 'P-256' };
  const privateKey = await subtle.importKey('jwk', jwk, curve, false, ['sign']);
  const verifyKey = await setupKey('raw', publicKey, curve, ['verify']);
  const algorithm = { name: 'ECDSA', hash: 'SHA-256' };
  const signature = p256.sign(message, secret);
  await compare(
    'ECDSA P-256 sign 1 KiB (SHA-256)',
    () => p256.sign(message, secret),
    () => subtle.sign(algorithm, privateKey, message),
  );
  await compare(
    'ECDSA P-256 verify 1 KiB (SHA-256)',
    () => p256.verify(signature, message, publicKey, { lowS: false }),
    () => subtle.verify(algorithm, verifyKey, signature, message),
  );
  await compare(
    'ECDSA P-256 key generation',
    () => p256.getPublicKey(p256.utils.randomSecretKey()),
    () => subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']),
  );
  await compare('ECDSA P-256 private key import (JWK)', undefined, () =>
    subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
  );
}

const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

async function edwards(): Promise<void> {
  const message = seededBytes(1024);
  const seed = seededBytes(32);
  const publicKey = ed25519.getPublicKey(seed);
  const signature = ed25519.sign(message, seed);
  let privateKey: CryptoKey | undefined;
  let verifyKey: CryptoKey | undefined;
  try {
    const pkcs8 = new Uint8Array([...ED25519_PKCS8_PREFIX, ...seed]);
    privateKey = await setupKey('pkcs8', pkcs8, 'Ed25519', ['sign']);
    verifyKey = await setupKey('raw', publicKey, 'Ed25519', ['verify']);
  } catch (error) {
    console.log(`WebCrypto has no Ed25519 here (${String(error)}): noble only`);
  }
  await compare(
    'Ed25519 sign 1 KiB',
    () => ed25519.sign(message, seed),
    privateKey && (() => subtle.sign('Ed25519', privateKey!, message)),
  );
  await compare(
    'Ed25519 verify 1 KiB',
    () => ed25519.verify(signature, message, publicKey),
    verifyKey && (() => subtle.verify('Ed25519', verifyKey!, signature, message)),
  );
  await compare(
    'Ed25519 key generation',
    () => ed25519.getPublicKey(ed25519.utils.randomSecretKey()),
    privateKey && (() => subtle.generateKey('Ed25519', true, ['sign'])),
  );
}

async function rsa(): Promise<void> {
  const message = seededBytes(1024);
  const algorithm = {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  };
  const pair = (await subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const signature = await subtle.sign('RSASSA-PKCS1-v1_5', pair.privateKey, message);
  const pkcs8 = await subtle.exportKey('pkcs8', pair.privateKey);
  await compare('RSA-2048 PKCS#1 v1.5 sign 1 KiB (SHA-256)', undefined, () =>
    subtle.sign('RSASSA-PKCS1-v1_5', pair.privateKey, message),
  );
  await compare('RSA-2048 PKCS#1 v1.5 verify 1 KiB (SHA-256)', undefined, () =>
    subtle.verify('RSASSA-PKCS1-v1_5', pair.publicKey, signature, message),
  );
  await compare('RSA-2048 private key import (PKCS#8)', undefined, () =>
    subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, [
      'sign',
    ]),
  );
  await compare('RSA-2048 key generation', undefined, () =>
    subtle.generateKey(algorithm, true, ['sign', 'verify']),
  );
}

/** The login's password hashing: what a client pays once per connect (the service never runs it at login). */
async function passwordHashing(): Promise<void> {
  const password = new TextEncoder().encode('correct horse battery staple');
  const salt = seededBytes(16);
  const passwordKey = await setupKey('raw', password, 'PBKDF2', ['deriveBits']);
  for (const iterations of [4096, 600_000]) {
    await compare(
      `PBKDF2-HMAC-SHA-256 ${iterations} iterations`,
      () => pbkdf2(sha256, password, salt, { c: iterations, dkLen: 32 }),
      () =>
        subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, passwordKey, 256),
    );
  }
  for (const [log2N, r, p] of [
    [10, 8, 1],
    [15, 8, 3],
  ] as const) {
    await compare(
      `scrypt N=2^${log2N} r=${r} p=${p} (no WebCrypto scrypt)`,
      () => scrypt(password, salt, { N: 2 ** log2N, r, p, dkLen: 32 }),
      undefined,
    );
  }
}

/**
 * For the symmetric operations, whose winner depends on the size (WebCrypto pays a fixed
 * cost per call, noble a cost per byte): the smallest measured size from which WebCrypto is
 * faster at every larger size too. host/wire/crypto-engine.ts takes its thresholds from here.
 */
function crossovers(): { operation: string; webcryptoFromBytes: number | null }[] {
  return ['AES-256-GCM encrypt', 'AES-256-GCM decrypt', 'HMAC-SHA-256'].map((operation) => {
    const faster = MESSAGE_SIZES.map((size) => {
      const pair = rows.filter((row) => row.operation === `${operation} ${size} B`);
      const noble = pair.find((row) => row.implementation === 'noble')!;
      const web = pair.find((row) => row.implementation === 'webcrypto')!;
      return { size, webcrypto: web.microsecondsBest < noble.microsecondsBest };
    });
    const from = faster.findIndex((_, i) => faster.slice(i).every((entry) => entry.webcrypto));
    return { operation, webcryptoFromBytes: from < 0 ? null : faster[from].size };
  });
}

/** For each operation measured both ways: which is faster, and by how much. */
function winners(): { operation: string; faster: string; ratio: number }[] {
  const byOperation = new Map<string, Row[]>();
  for (const row of rows)
    byOperation.set(row.operation, [...(byOperation.get(row.operation) ?? []), row]);
  return [...byOperation.entries()]
    .filter(([, pair]) => pair.length === 2)
    .map(([operation, [a, b]]) => {
      const [fast, slow] = a.microsecondsBest <= b.microsecondsBest ? [a, b] : [b, a];
      return {
        operation,
        faster: fast.implementation,
        ratio: Math.round((slow.microsecondsBest / fast.microsecondsBest) * 100) / 100,
      };
    });
}

async function main(): Promise<void> {
  const machine = machineInfo();
  console.log(
    `seed ${SEED}, ${REPETITIONS} repetitions of ~${REPETITION_TARGET_SECONDS}s each; ${machine.cpuModel}, ${machine.logicalCores} cores, Node ${machine.node}`,
  );
  await symmetric();
  await ecdsa();
  await edwards();
  await rsa();
  await passwordHashing();
  const result = {
    benchmark: 'crypto',
    command: 'npm run bench:crypto',
    seed: SEED,
    repetitions: REPETITIONS,
    machine,
    loadAverageAfter: loadAverage(),
    rows,
    winners: winners(),
    crossovers: crossovers(),
  };
  writeResult('crypto.json', result);
  for (const crossover of result.crossovers)
    console.log(
      `${crossover.operation}: WebCrypto faster from ${crossover.webcryptoFromBytes ?? 'no measured'} bytes`,
    );
  console.log('wrote bench/results/crypto.json');
}

await main();
