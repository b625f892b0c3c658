// Keys and operations: every type generated and used (checked against independent
// implementations), on WebCrypto and on the pure-JavaScript engine; import and export rules;
// storage wrapped under the SVMK; ACLs; duplicates, missing objects, bad names; temporary keys.

import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { CODE } from '../../host/core/codes.ts';
import { deriveKey } from '../../host/core/keys.ts';
import type { KeyType } from '../../host/core/records.ts';
import { CryptoEngine, keyBytes } from '../../host/wire/crypto-engine.ts';
import { unwrapObjectKey } from '../../host/wire/wrapping.ts';
import { TEST_SVMK } from '../fixtures.ts';
import {
  ENGINES,
  bytes,
  decode64,
  encode64,
  expectSigner,
  generateFields,
  grantFields,
  loggedIn,
  newNodeAdmin,
  storedObject,
  makeNode,
  makePool,
  newRequestId,
  rsaPkcs8,
  rsaVerifies,
  type Driver,
} from '../service-fixtures.ts';

const MESSAGE = bytes('the message to sign, encrypt and MAC');

const generate = (
  driver: Driver,
  name: string,
  keyType: KeyType,
  options: { exportable?: boolean; temporary?: boolean } = {},
) => driver.call('key.generate', generateFields(name, keyType, options));

/** Checks a signature outside the service. */
function independentlyValid(
  keyType: KeyType,
  publicKey: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (keyType === 'ec-p256') return p256.verify(signature, MESSAGE, publicKey, { lowS: false });
  if (keyType === 'ed25519') return ed25519.verify(signature, MESSAGE, publicKey);
  const key = createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' });
  return nodeVerify('sha256', MESSAGE, key, signature);
}

describe.each(ENGINES)('every key type (%s)', (engineName, engine) => {
  const signatureTypes: KeyType[] =
    engineName === 'WebCrypto' ? ['ec-p256', 'ed25519', 'rsa-2048'] : ['ec-p256', 'ed25519'];

  it.each(signatureTypes)('%s signs, verifies, and a third party agrees', async (keyType) => {
    const admin = await newNodeAdmin(1, engine);
    await generate(admin, 'signer', keyType);
    await expectSigner(admin, 'signer', MESSAGE, (publicKey, signature) =>
      independentlyValid(keyType, publicKey, signature),
    );
  });

  it.each(['aes-128', 'aes-192', 'aes-256'] as KeyType[])(
    '%s encrypts and decrypts with AES-GCM, with and without AAD',
    async (keyType) => {
      const admin = await newNodeAdmin(1, engine);
      await generate(admin, 'cipher', keyType, { exportable: true });
      const aad = encode64(bytes('header'));
      const { ciphertext } = await admin.call('encrypt', {
        name: 'cipher',
        plaintext: encode64(MESSAGE),
        aad,
      });
      const sealed = decode64(ciphertext);
      expect(sealed.length).toBe(12 + MESSAGE.length + 16);
      expect(
        decode64((await admin.call('decrypt', { name: 'cipher', ciphertext, aad })).plaintext),
      ).toEqual(MESSAGE);
      const key = await admin.exported('cipher', keyType);
      expect(key.length * 8).toBe(Number(keyType.slice(4)));
      expect(
        gcm(key, sealed.subarray(0, 12), bytes('header')).decrypt(sealed.subarray(12)),
      ).toEqual(MESSAGE);
      expect(await admin.code('decrypt', { name: 'cipher', ciphertext })).toBe(CODE.DECRYPT_FAILED);
      sealed[20] ^= 1;
      expect(
        await admin.code('decrypt', { name: 'cipher', ciphertext: encode64(sealed), aad }),
      ).toBe(CODE.DECRYPT_FAILED);
      expect(
        await admin.code('decrypt', { name: 'cipher', ciphertext: encode64(new Uint8Array(5)) }),
      ).toBe(CODE.DECRYPT_FAILED);
      const again = await admin.call('encrypt', {
        name: 'cipher',
        plaintext: encode64(MESSAGE),
        aad,
      });
      expect(again.ciphertext).not.toBe(ciphertext); // a fresh nonce each time
      expect(await admin.code('sign', { name: 'cipher', message: encode64(MESSAGE) })).toBe(
        CODE.WRONG_KEY_TYPE,
      );
    },
  );

  it('hmac-sha256 MACs and verifies MACs', async () => {
    const admin = await newNodeAdmin(1, engine);
    await generate(admin, 'mac-key', 'hmac-sha256', { exportable: true });
    const { mac } = await admin.call('mac', { name: 'mac-key', message: encode64(MESSAGE) });
    const key = await admin.exported('mac-key', 'hmac-sha256');
    expect(decode64(mac)).toEqual(hmac(sha256, key, MESSAGE));
    const long = new Uint8Array(4096).fill(0x61); // above HMAC_WEBCRYPTO_FROM_BYTES: the other implementation
    expect(
      decode64((await admin.call('mac', { name: 'mac-key', message: encode64(long) })).mac),
    ).toEqual(hmac(sha256, key, long));
    expect(
      (await admin.call('mac.verify', { name: 'mac-key', message: encode64(MESSAGE), mac })).valid,
    ).toBe(true);
    expect(
      (await admin.call('mac.verify', { name: 'mac-key', message: encode64(bytes('x')), mac }))
        .valid,
    ).toBe(false);
    expect(await admin.code('key.publicKey', { name: 'mac-key' })).toBe(CODE.WRONG_KEY_TYPE);
  });

  if (engineName === 'noble only') {
    it('refuses RSA without WebCrypto with UNSUPPORTED_HERE', async () => {
      const admin = await newNodeAdmin(1, engine);
      expect(await admin.code('key.generate', generateFields('rsa', 'rsa-2048'))).toBe(
        CODE.UNSUPPORTED_HERE,
      );
    });
  }
});

describe('import and export', () => {
  const materials: [KeyType, Uint8Array][] = [
    ['aes-128', new Uint8Array(16).fill(1)],
    ['aes-256', new Uint8Array(32).fill(2)],
    ['hmac-sha256', new Uint8Array(32).fill(3)],
    ['ec-p256', new Uint8Array(32).fill(4)],
    ['ed25519', new Uint8Array(32).fill(5)],
  ];

  it.each(materials)(
    '%s: imported material comes back from export unchanged, and works',
    async (keyType, material) => {
      const admin = await newNodeAdmin();
      await admin.call('key.import', await admin.importFields('imported', keyType, material, true));
      const exported = await admin.call('key.export', { name: 'imported' });
      expect(exported.keyType).toBe(keyType);
      expect(decode64(exported.material)).not.toEqual(material);
      expect(await admin.unsealExport('imported', keyType, exported.material)).toEqual(material);
      if (keyType === 'ed25519') {
        const { signature } = await admin.call('sign', {
          name: 'imported',
          message: encode64(MESSAGE),
        });
        expect(ed25519.verify(decode64(signature), MESSAGE, ed25519.getPublicKey(material))).toBe(
          true,
        );
      }
    },
  );

  it('imports an RSA-2048 PKCS#8 and signs like the original key', async () => {
    const { pair, pkcs8 } = await rsaPkcs8(2048);
    const admin = await newNodeAdmin();
    await admin.call('key.import', await admin.importFields('rsa', 'rsa-2048', pkcs8));
    const { signature } = await admin.call('sign', { name: 'rsa', message: encode64(MESSAGE) });
    expect(await rsaVerifies(pair.publicKey, signature, MESSAGE)).toBe(true);
  });

  it('refuses material of the wrong shape with INVALID_KEY_MATERIAL', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    const attempt = async (keyType: KeyType, material: Uint8Array) =>
      admin.code('key.import', await admin.importFields('bad', keyType, material));
    for (const [keyType, material] of [
      ['aes-256', new Uint8Array(16)],
      ['aes-128', new Uint8Array(17)],
      ['ec-p256', new Uint8Array(32)],
      ['ec-p256', new Uint8Array(32).fill(0xff)],
      ['rsa-2048', new Uint8Array(300).fill(0x30)],
      ['aes-192', new Uint8Array(32)],
      ['ec-p384', new Uint8Array(48)],
      ['ec-p521', new Uint8Array(66).fill(0xff)],
      ['ed448', new Uint8Array(32)],
      ['hmac-sha512', new Uint8Array(32)],
      ['cmac-aes-128', new Uint8Array(32)],
    ] as const)
      expect(await attempt(keyType, material), keyType).toBe(CODE.INVALID_KEY_MATERIAL);
    expect(node.core.get('object', 'bad')).toBeUndefined();
  });

  it('opens imports only when sealed for this session, name and type', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    const other = await loggedIn(node.service);
    const key = new Uint8Array(32).fill(9);
    const fields = { requestId: newRequestId(), keyType: 'aes-256', exportable: false };
    const importK = async (material: string) =>
      admin.code('key.import', { ...fields, temporary: false, name: 'k', material });
    // Sealed by another session, for another name, for another type; not sealed at all.
    expect(await importK(await other.sealKey('k', 'aes-256', key))).toBe(CODE.DECRYPT_FAILED);
    expect(await importK(await admin.sealKey('j', 'aes-256', key))).toBe(CODE.DECRYPT_FAILED);
    expect(await importK(await admin.sealKey('k', 'hmac-sha256', key))).toBe(CODE.DECRYPT_FAILED);
    expect(await importK(encode64(key))).toBe(CODE.DECRYPT_FAILED);
  });

  it('exports only exportable keys, and only while the policy allows', async () => {
    const admin = await newNodeAdmin();
    await generate(admin, 'kept', 'aes-256', { exportable: false });
    await generate(admin, 'free', 'aes-256', { exportable: true });
    expect(await admin.code('key.export', { name: 'kept' })).toBe(CODE.KEY_NOT_EXPORTABLE);
    expect(await admin.code('key.export', { name: 'free' })).toBe(0);
    await admin.setPolicy({ keyExportAllowed: false });
    expect(await admin.code('key.export', { name: 'free' })).toBe(CODE.EXPORT_DISABLED);
  });

  it('stores material only wrapped under the SVMK-derived key, bound to the name and type', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    const material = new Uint8Array(32).fill(0x42);
    await admin.call('key.import', await admin.importFields('wrapped', 'aes-256', material));
    const object = storedObject(node, 'wrapped')!;
    expect(Buffer.from(object.wrapped).includes(Buffer.from(material))).toBe(false);
    expect(object.wrapped[0]).toBe(1);
    const wrapKey = keyBytes(deriveKey(TEST_SVMK, 'key-wrap', 32));
    const engine = new CryptoEngine();
    expect(await unwrapObjectKey(engine, wrapKey, 'wrapped', 'aes-256', object.wrapped)).toEqual(
      material,
    );
    await expect(
      unwrapObjectKey(engine, wrapKey, 'renamed', 'aes-256', object.wrapped),
    ).rejects.toMatchObject({ code: CODE.KEY_UNWRAP_FAILED });
    await expect(
      unwrapObjectKey(engine, wrapKey, 'wrapped', 'hmac-sha256', object.wrapped),
    ).rejects.toMatchObject({ code: CODE.KEY_UNWRAP_FAILED });
  });
});

describe('rights', () => {
  async function aliceAndBob() {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await admin.createUser('alice', 'alice-password');
    await admin.createUser('bob', 'bob-password');
    const alice = await loggedIn(node.service, 'alice', 'alice-password');
    const bob = await loggedIn(node.service, 'bob', 'bob-password');
    await generate(alice, 'alice-key', 'ed25519', { exportable: true });
    return { node, admin, alice, bob };
  }

  const grant = (driver: Driver, user: string, rights: Parameters<typeof grantFields>[2]) =>
    driver.code('key.grant', grantFields('alice-key', user, rights));

  it('a user uses only its own keys unless the owner grants more', async () => {
    const { alice, bob, admin } = await aliceAndBob();
    const sign = (driver: Driver) =>
      driver.code('sign', { name: 'alice-key', message: encode64(MESSAGE) });
    expect(await sign(alice)).toBe(0);
    expect(await sign(bob)).toBe(CODE.ACCESS_DENIED);
    expect(await sign(admin)).toBe(CODE.ACCESS_DENIED);
    expect(await bob.code('key.export', { name: 'alice-key' })).toBe(CODE.ACCESS_DENIED);
    expect(await bob.code('key.remove', { requestId: newRequestId(), name: 'alice-key' })).toBe(
      CODE.ACCESS_DENIED,
    );
    expect((await bob.call('key.list')).keys).toEqual([]);
    expect(await grant(alice, 'bob', { use: true })).toBe(0);
    expect(await sign(bob)).toBe(0);
    expect(await bob.code('key.export', { name: 'alice-key' })).toBe(CODE.ACCESS_DENIED);
    expect((await bob.call('key.list')).keys).toEqual([
      expect.objectContaining({ name: 'alice-key', owner: 'alice', acl: [] }),
    ]);
    expect((await alice.call('key.list')).keys[0].acl).toEqual([
      { user: 'bob', use: true, export: false, remove: false },
    ]);
    expect(await grant(alice, 'bob', { export: true })).toBe(0);
    expect(await sign(bob)).toBe(CODE.ACCESS_DENIED);
    expect(await bob.code('key.export', { name: 'alice-key' })).toBe(0);
    expect(await grant(alice, 'bob', {})).toBe(0);
    expect(await bob.code('key.export', { name: 'alice-key' })).toBe(CODE.ACCESS_DENIED);
  });

  it('only the owner grants, never to itself or to an unknown user', async () => {
    const { alice, bob } = await aliceAndBob();
    expect(await grant(bob, 'bob', { use: true })).toBe(CODE.ACCESS_DENIED);
    expect(await grant(alice, 'alice', { use: true })).toBe(CODE.ACL_INVALID);
    expect(await grant(alice, 'nobody', { use: true })).toBe(CODE.CANNOT_OPEN_OBJ);
    expect(await alice.code('key.grant', grantFields('missing', 'bob', { use: true }))).toBe(
      CODE.CANNOT_OPEN_OBJ,
    );
  });

  it('an administrator removes any key but does not use it; only administrators manage users', async () => {
    const { alice, admin, node } = await aliceAndBob();
    expect(
      await alice.code('user.create', {
        requestId: newRequestId(),
        name: 'eve',
        password: await alice.sealPassword('eve', 'eve-password'),
        admin: true,
      }),
    ).toBe(CODE.ACCESS_DENIED);
    expect(await alice.code('user.list')).toBe(CODE.ACCESS_DENIED);
    expect(await alice.code('key.list', { owner: 'bob' })).toBe(CODE.ACCESS_DENIED);
    expect((await admin.call('key.list', { owner: 'alice' })).keys.map((key) => key.name)).toEqual([
      'alice-key',
    ]);
    expect(await admin.code('key.remove', { requestId: newRequestId(), name: 'alice-key' })).toBe(
      0,
    );
    expect(storedObject(node, 'alice-key')).toBeUndefined();
  });
});

describe('names, duplicates, missing objects', () => {
  it('refuses a second object of the same name with 5022 and changes nothing', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await generate(admin, 'dup', 'aes-128');
    const before = node.core.syncPoint().hex;
    for (const temporary of [false, true])
      expect(
        await admin.code('key.generate', generateFields('dup', 'ed25519', { temporary })),
      ).toBe(CODE.OBJ_ALREADY_EXISTS);
    expect(storedObject(node, 'dup')!.keyType).toBe('aes-128');
    expect(node.core.syncPoint().hex).toBe(before);
  });

  it('answers 5004 for objects that do not exist', async () => {
    const admin = await newNodeAdmin();
    for (const [type, fields] of [
      ['sign', { message: encode64(MESSAGE) }],
      ['key.export', {}],
      ['key.publicKey', {}],
      ['mac', { message: encode64(MESSAGE) }],
      ['key.remove', { requestId: newRequestId() }],
      ['decrypt', { ciphertext: encode64(new Uint8Array(40)) }],
    ] as const) {
      expect(await admin.code(type, { name: 'missing', ...fields }), type).toBe(
        CODE.CANNOT_OPEN_OBJ,
      );
    }
  });

  it('refuses names longer than 32 characters, empty or with other characters with 5023', async () => {
    const admin = await newNodeAdmin();
    for (const name of ['k'.repeat(33), '', 'with space', 'slash/name', 'é']) {
      expect(await admin.code('key.generate', generateFields(name, 'aes-128')), name).toBe(
        CODE.INVALID_OBJ_NAME,
      );
      expect(await admin.code('sign', { name, message: encode64(MESSAGE) })).toBe(
        CODE.INVALID_OBJ_NAME,
      );
    }
    expect(await admin.code('key.generate', generateFields('k'.repeat(32), 'aes-128'))).toBe(0);
  });
});

describe('retried writes', () => {
  it('answers a retry with the same request id with the original outcome, on any node', async () => {
    const pool = await makePool(2);
    const [a, b] = pool.nodes;
    const onA = await loggedIn(a.service);
    const onB = await loggedIn(b.service);
    const fields = generateFields('once', 'ec-p256');
    const first = await onA.call('key.generate', fields);
    const wrappedBefore = storedObject(a, 'once')!.wrapped;
    const retry = await onB.call('key.generate', fields);
    expect(retry.key).toEqual(first.key);
    expect(retry.txid).toBe(first.txid);
    expect(storedObject(b, 'once')!.wrapped).toEqual(wrappedBefore); // not generated twice
    expect(await onB.code('key.generate', { ...fields, requestId: newRequestId() })).toBe(
      CODE.OBJ_ALREADY_EXISTS,
    );
    const remove = { requestId: newRequestId(), name: 'once' };
    expect(await onA.code('key.remove', remove)).toBe(0);
    expect(await onB.code('key.remove', remove)).toBe(0); // the retry of a delete that took effect
    expect(await onB.code('key.remove', { ...remove, requestId: newRequestId() })).toBe(
      CODE.CANNOT_OPEN_OBJ,
    );
  });
});

describe('temporary keys', () => {
  it('live in their session only: never written to the pool, gone at logout', async () => {
    const pool = await makePool(2);
    const [a, b] = pool.nodes;
    const driver = await loggedIn(a.service);
    const before = a.core.syncPoint().hex;
    const { key } = await generate(driver, 'temp', 'ed25519', {
      temporary: true,
      exportable: true,
    });
    expect(key).toMatchObject({ temporary: true, owner: 'admin' });
    expect(a.core.get('object', 'temp')).toBeUndefined();
    expect(a.core.syncPoint().hex).toBe(before);
    expect(await driver.code('sign', { name: 'temp', message: encode64(MESSAGE) })).toBe(0);
    expect(await driver.code('key.export', { name: 'temp' })).toBe(0);
    expect((await driver.call('key.list')).keys.map((entry) => entry.name)).toEqual(['temp']);
    expect(
      await (await loggedIn(a.service)).code('sign', { name: 'temp', message: encode64(MESSAGE) }),
    ).toBe(CODE.CANNOT_OPEN_OBJ);
    expect(
      await (await loggedIn(b.service)).code('sign', { name: 'temp', message: encode64(MESSAGE) }),
    ).toBe(CODE.CANNOT_OPEN_OBJ);
    expect(await driver.code('key.grant', grantFields('temp', 'admin', { use: true }))).toBe(
      CODE.ACL_INVALID,
    );
    await driver.call('logout');
    await driver.login('admin', 'administrator-password');
    expect(await driver.code('sign', { name: 'temp', message: encode64(MESSAGE) })).toBe(
      CODE.CANNOT_OPEN_OBJ,
    );
  });

  it('are limited per session and removable', async () => {
    const driver = await newNodeAdmin();
    for (let i = 0; i < 64; i++) await generate(driver, `t${i}`, 'aes-128', { temporary: true });
    const t64 = () =>
      driver.code('key.generate', generateFields('t64', 'aes-128', { temporary: true }));
    expect(await t64()).toBe(CODE.TOO_MANY_TEMPORARY_KEYS);
    expect(await driver.code('key.remove', { name: 't0' })).toBe(0);
    expect(await t64()).toBe(0);
  });
});
