// Fixtures for the service and client suites: seeded randomness, a node (or a pool of nodes)
// with its administrator, and a test driver that logs a session in over SCRAM and seals
// secrets the way the SDK does.

import { sha256 } from '@noble/hashes/sha2.js';
import { expect } from 'vitest';
import { CODE } from '../host/core/codes.ts';
import type { Core } from '../host/core/core.ts';
import type { KdfParameters, KeyType, ObjectRecord, UserRecord } from '../host/core/records.ts';
import { CryptoEngine, keyBytes, type KeyBytes } from '../host/wire/crypto-engine.ts';
import { fromBase64, toHex } from '../host/wire/bytes.ts';
import { LocalBackend, createLocalPool } from '../host/service/local-backend.ts';
import {
  encodeBytes,
  type RequestType,
  type ResultOf,
  type ServiceResponse,
} from '../host/wire/messages.ts';
import {
  DEFAULT_KDF_LIMITS as defaultLimits,
  ScramClient,
  saltPassword,
} from '../host/wire/scram.ts';
import { Service } from '../host/service/service.ts';
import type { Session } from '../host/service/session.ts';
import { bootstrapPool } from '../host/service/users.ts';
import { keyContext, seal, unseal } from '../host/wire/wrapping.ts';
import { TEST_SVMK, keyedCore } from './fixtures.ts';

/** RFC 7677's iteration count: the cheapest the client accepts by default (about 2 ms with WebCrypto). */
export const TEST_KDF: KdfParameters = { kdf: 'pbkdf2-sha256', iterations: 4096 };
export const ADMIN_PASSWORD = 'administrator-password';

/** A replayable random source: SHA-256 in counter mode over the seed. */
export function seededRandomBytes(seed: number): (length: number) => Uint8Array {
  let counter = 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += 32) {
      const block = sha256(new TextEncoder().encode(`${seed}:${counter++}`));
      out.set(block.subarray(0, Math.min(32, length - at)), at);
    }
    return out;
  };
}

/** A clock the test moves. */
export class ManualClock {
  constructor(public nowMs = 1_000_000) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

export interface TestNode {
  readonly core: Core;
  readonly backend: LocalBackend;
  readonly service: Service;
}

export interface TestPool {
  readonly nodes: TestNode[];
  readonly clock: ManualClock;
  readonly engine: CryptoEngine;
}

/** `count` nodes over one replicated state, with the administrator `admin` / ADMIN_PASSWORD. */
export async function makePool(
  count = 1,
  seed = 1,
  engine = new CryptoEngine(),
): Promise<TestPool> {
  const clock = new ManualClock();
  const randomBytes = seededRandomBytes(seed);
  const cores = Array.from({ length: count }, () => keyedCore());
  const backends = createLocalPool(cores, TEST_SVMK, { randomBytes, now: clock.now });
  const nodes = backends.map((backend) => ({
    core: backend.core,
    backend,
    service: new Service(backend, { kdf: TEST_KDF, engine }),
  }));
  const bootstrap = await bootstrapPool({
    core: cores[0],
    password: ADMIN_PASSWORD,
    kdf: TEST_KDF,
    randomBytes,
    engine,
  });
  const reply = await backends[0].submit(bootstrap.write);
  if (reply.code !== 0) throw new Error(`bootstrap failed: ${reply.code}`);
  return { nodes, clock, engine };
}

export async function makeNode(
  seed = 1,
  engine = new CryptoEngine(),
): Promise<TestNode & { clock: ManualClock }> {
  const pool = await makePool(1, seed, engine);
  return { ...pool.nodes[0], clock: pool.clock };
}

let requestCounter = 0;
/** A fresh request id (deterministic within a run). */
export function newRequestId(): string {
  return toHex(sha256(new TextEncoder().encode(`request ${requestCounter++}`)).subarray(0, 16));
}

/** The fields of a key.generate: not exportable and persistent unless told (a temporary key has no request id). */
export function generateFields(
  name: string,
  keyType: KeyType,
  { exportable = false, temporary = false } = {},
) {
  return {
    name,
    keyType,
    exportable,
    temporary,
    ...(temporary ? {} : { requestId: newRequestId() }),
  };
}

/** The fields of a key.grant of `rights` (the others false) on `name` to `user`. */
export function grantFields(
  name: string,
  user: string,
  rights: { use?: boolean; export?: boolean; remove?: boolean },
) {
  return {
    requestId: newRequestId(),
    name,
    user,
    use: false,
    export: false,
    remove: false,
    ...rights,
  };
}

/** WebCrypto and the pure-JavaScript engine, for the suites that run on both. */
export const ENGINES: [string, CryptoEngine][] = [
  ['WebCrypto', new CryptoEngine()],
  ['noble only', new CryptoEngine({ subtle: null })],
];

/** A fresh RSA key pair (RSASSA-PKCS1-v1_5, SHA-256) and its private key as PKCS#8. */
export async function rsaPkcs8(
  modulusLength: number,
): Promise<{ pair: CryptoKeyPair; pkcs8: Uint8Array }> {
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', publicExponent: new Uint8Array([1, 0, 1]) };
  const pair = (await crypto.subtle.generateKey(
    { ...algorithm, modulusLength, hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  return { pair, pkcs8: new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey)) };
}

/** WebCrypto's verdict on an RSASSA-PKCS1-v1_5 signature (base64) of `message`. */
export const rsaVerifies = (publicKey: CryptoKey, signature: string, message: Uint8Array) =>
  crypto.subtle.verify(
    'RSASSA-PKCS1-v1_5',
    publicKey,
    fromBase64(signature) as Uint8Array<ArrayBuffer>,
    message as Uint8Array<ArrayBuffer>,
  );

/** A session driven the way a client drives it. */
export class Driver {
  sessionKey: KeyBytes | undefined;
  private nonceCounter = 0;
  readonly engine = new CryptoEngine();

  constructor(
    readonly service: Service,
    readonly session: Session = service.openSession(),
  ) {}

  async raw(request: unknown): Promise<ServiceResponse> {
    return this.service.handle(this.session, request);
  }

  /** Sends a request; returns the result or throws an error carrying the code. */
  async call<T extends RequestType>(
    type: T,
    fields: Record<string, unknown> = {},
  ): Promise<ResultOf<T>> {
    const response = await this.raw({ type, ...fields });
    if (response.code !== 0)
      throw Object.assign(new Error(`${type}: ${'message' in response ? response.message : ''}`), {
        code: response.code,
      });
    return (response as { result: ResultOf<T> }).result;
  }

  /** The code a request answers (0 on success). */
  async code(type: RequestType, fields: Record<string, unknown> = {}): Promise<number> {
    return (await this.raw({ type, ...fields })).code;
  }

  /** A full SCRAM login; returns login.finish's code. */
  async login(user: string, password: string): Promise<number> {
    const client = new ScramClient(
      user,
      `client-nonce-${String(this.nonceCounter++).padStart(6, '0')}`,
    );
    const start = await this.raw({ type: 'login.start', clientFirst: client.clientFirst });
    if (start.code !== 0) return start.code;
    const serverFirst = (start as { result: ResultOf<'login.start'> }).result.serverFirst;
    const parsed = client.receiveServerFirst(serverFirst, {
      ...defaultLimits,
      pbkdf2IterationsMin: 1,
      scryptLog2NMin: 1,
    });
    const salted = await saltPassword(this.engine, password, parsed.salt, parsed.kdf);
    const finish = await this.raw({
      type: 'login.finish',
      clientFinal: client.clientFinal(salted),
    });
    if (finish.code !== 0) return finish.code;
    this.sessionKey = keyBytes(
      client.receiveServerFinal(
        (finish as { result: ResultOf<'login.finish'> }).result.serverFinal,
      ),
    );
    return 0;
  }

  async sealPassword(user: string, password: string): Promise<string> {
    return encodeBytes(
      await seal(
        this.engine,
        this.sessionKey!,
        'password',
        user,
        new TextEncoder().encode(password),
        nonce12(),
      ),
    );
  }

  async sealKey(name: string, keyType: KeyType, material: Uint8Array): Promise<string> {
    return encodeBytes(
      await seal(
        this.engine,
        this.sessionKey!,
        'key-import',
        keyContext(name, keyType),
        material,
        nonce12(),
      ),
    );
  }

  /** The fields of a key.import of `material`, sealed for this session, name and type. */
  async importFields(name: string, keyType: KeyType, material: Uint8Array, exportable = false) {
    const sealed = await this.sealKey(name, keyType, material);
    return {
      requestId: newRequestId(),
      name,
      keyType,
      exportable,
      temporary: false,
      material: sealed,
    };
  }

  /** key.export of `name`, opened: the key material. */
  async exported(name: string, keyType: KeyType): Promise<Uint8Array> {
    const { material } = await this.call('key.export', { name });
    return this.unsealExport(name, keyType, material);
  }

  async unsealExport(name: string, keyType: KeyType, sealed: string): Promise<Uint8Array> {
    return unseal(
      this.engine,
      this.sessionKey!,
      'key-export',
      keyContext(name, keyType),
      fromBase64(sealed)!,
    );
  }

  async createUser(name: string, password: string, admin = false): Promise<void> {
    await this.call('user.create', {
      requestId: newRequestId(),
      name,
      password: await this.sealPassword(name, password),
      admin,
    });
  }

  /** policy.set: the default policy (8, 5, export allowed, 900 s) with `changes`. */
  async setPolicy(changes: Record<string, number | boolean>): Promise<void> {
    const policy = {
      minPasswordLength: 8,
      maxFailedLogins: 5,
      keyExportAllowed: true,
      sessionTimeoutSeconds: 900,
    };
    await this.call('policy.set', { requestId: newRequestId(), ...policy, ...changes });
  }
}

let nonceCounter = 0;
function nonce12(): Uint8Array {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setUint32(8, ++nonceCounter);
  return out;
}

/** A logged-in driver on `service`. */
export async function loggedIn(
  service: Service,
  user = 'admin',
  password = ADMIN_PASSWORD,
): Promise<Driver> {
  const driver = new Driver(service);
  const code = await driver.login(user, password);
  if (code !== 0) throw new Error(`login of ${user} failed: ${code}`);
  return driver;
}

/** The record of `kind` named `name` as `node` stores it, decoded; undefined when it has none. */
function stored(node: { core: Core }, kind: 'user' | 'object', name: string) {
  const bytes = node.core.get(kind, name);
  return bytes ? node.core.decode(bytes) : undefined;
}
export const storedUser = (node: { core: Core }, name: string) =>
  stored(node, 'user', name) as UserRecord | undefined;
export const storedObject = (node: { core: Core }, name: string) =>
  stored(node, 'object', name) as ObjectRecord | undefined;

/** A new node (makeNode) with its administrator logged in. */
export async function newNodeAdmin(seed?: number, engine?: CryptoEngine): Promise<Driver> {
  return loggedIn((await makeNode(seed, engine)).service);
}

/**
 * What every signing key does: its signature of `message` satisfies `independentlyValid` (with
 * its public key); verify accepts it and refuses another message or a malformed signature;
 * encrypt and mac refuse the key. Returns the signature.
 */
export async function expectSigner(
  driver: Driver,
  name: string,
  message: Uint8Array,
  independentlyValid: (publicKey: Uint8Array, signature: Uint8Array) => boolean,
): Promise<Uint8Array> {
  const { signature } = await driver.call('sign', { name, message: encode64(message) });
  const { publicKey } = await driver.call('key.publicKey', { name });
  expect(independentlyValid(decode64(publicKey), decode64(signature))).toBe(true);
  const check = (text: Uint8Array, sig = signature) =>
    driver.call('verify', { name, message: encode64(text), signature: sig });
  expect((await check(message)).valid).toBe(true);
  expect((await check(bytes('another message'))).valid).toBe(false);
  expect((await check(message, encode64(new Uint8Array(3)))).valid).toBe(false);
  expect(await driver.code('encrypt', { name, plaintext: encode64(message) })).toBe(
    CODE.WRONG_KEY_TYPE,
  );
  expect(await driver.code('mac', { name, message: encode64(message) })).toBe(CODE.WRONG_KEY_TYPE);
  return decode64(signature);
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const decode64 = (text: string): Uint8Array => fromBase64(text)!;
export const encode64 = encodeBytes;
