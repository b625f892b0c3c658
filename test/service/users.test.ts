// Users and policy: the bootstrap administrator, create, delete, change password, the password
// policy, what only administrators may do.

import { describe, expect, it } from 'vitest';
import { CODE } from '../../host/core/codes.ts';
import { CryptoEngine } from '../../host/wire/crypto-engine.ts';
import {
  GENERATED_PASSWORD_LENGTH,
  bootstrapPool,
  generatePassword,
} from '../../host/service/users.ts';
import { keyedCore } from '../fixtures.ts';
import {
  Driver,
  TEST_KDF,
  loggedIn,
  newNodeAdmin,
  storedObject,
  storedUser,
  makeNode,
  newRequestId,
  seededRandomBytes,
  generateFields,
  grantFields,
} from '../service-fixtures.ts';

describe('the administrator of a new pool', () => {
  it('gets a generated password when none is given, and records only a verifier', async () => {
    const core = keyedCore();
    const bootstrap = await bootstrapPool({
      core,
      kdf: TEST_KDF,
      randomBytes: seededRandomBytes(7),
    });
    expect(bootstrap.passwordGenerated).toBe(true);
    expect(bootstrap.password).toMatch(new RegExp(`^[A-Za-z0-9]{${GENERATED_PASSWORD_LENGTH}}$`));
    const [admin, policy] = bootstrap.records;
    expect(admin).toMatchObject({ name: 'admin', admin: true, failedLogins: 0, kdf: TEST_KDF });
    expect(policy).toMatchObject({ kind: 'policy', minPasswordLength: 8, maxFailedLogins: 5 });
    expect(bootstrap.write).toMatchObject({ kind: 'write', event: 'CREATE_USR', target: 'admin' });
    expect(core.get('user', 'admin')).toBeUndefined();
    const recordText = new TextDecoder('latin1').decode(
      bootstrap.write.operations[0].op === 'insert'
        ? bootstrap.write.operations[0].record
        : new Uint8Array(),
    );
    expect(recordText).not.toContain(bootstrap.password);
  });

  it('refuses a given password the policy does not allow', async () => {
    await expect(
      bootstrapPool({ core: keyedCore(), password: 'short', kdf: TEST_KDF }),
    ).rejects.toMatchObject({ code: CODE.PASSWORD_POLICY });
  });

  it('generates passwords from every symbol, uniformly enough', () => {
    const counts = new Map<string, number>();
    const random = seededRandomBytes(3);
    for (let i = 0; i < 500; i++)
      for (const symbol of generatePassword(random))
        counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
    expect(counts.size).toBe(62);
    expect(Math.max(...counts.values()) / Math.min(...counts.values())).toBeLessThan(2.5);
  });

  it('works with the production KDF parameters by default', async () => {
    const bootstrap = await bootstrapPool({
      core: keyedCore(),
      password: 'long-enough',
      engine: new CryptoEngine(),
      randomBytes: seededRandomBytes(1),
    });
    expect(bootstrap.records[0].kdf).toEqual({ kdf: 'pbkdf2-sha256', iterations: 600_000 });
  });
});

describe('user management', () => {
  it('creates users with their own password, deletes them', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await admin.createUser('erin', 'erin-password');
    expect(storedUser(node, 'erin')).toMatchObject({
      admin: false,
      failedLogins: 0,
      kdf: TEST_KDF,
    });
    expect(await new Driver(node.service).login('erin', 'erin-password')).toBe(0);
    expect(
      await admin.code('user.create', {
        requestId: newRequestId(),
        name: 'erin',
        password: await admin.sealPassword('erin', 'other-password'),
        admin: false,
      }),
    ).toBe(CODE.OBJ_ALREADY_EXISTS);
    expect(await admin.code('user.delete', { requestId: newRequestId(), name: 'erin' })).toBe(0);
    expect(storedUser(node, 'erin')).toBeUndefined();
    expect(await admin.code('user.delete', { requestId: newRequestId(), name: 'erin' })).toBe(
      CODE.CANNOT_OPEN_OBJ,
    );
  });

  it('enforces the password policy and takes passwords only sealed for the session and user', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    const create = async (password: unknown) =>
      admin.code('user.create', {
        requestId: newRequestId(),
        name: 'frank',
        password,
        admin: false,
      });
    expect(await create(await admin.sealPassword('frank', 'short'))).toBe(CODE.PASSWORD_POLICY);
    expect(await create(await admin.sealPassword('frank', 'p'.repeat(129)))).toBe(
      CODE.PASSWORD_POLICY,
    );
    expect(await create(await admin.sealPassword('someone', 'frank-password'))).toBe(
      CODE.DECRYPT_FAILED,
    );
    expect(await create('ZnJhbmstcGFzc3dvcmQ=')).toBe(CODE.DECRYPT_FAILED);
    expect(storedUser(node, 'frank')).toBeUndefined();
    expect(await create(await admin.sealPassword('frank', 'frank-password'))).toBe(0);
  });

  it("lets users change their own password, and administrators anyone's", async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await admin.createUser('gina', 'gina-password');
    await admin.createUser('hank', 'hank-password');
    const gina = await loggedIn(node.service, 'gina', 'gina-password');
    const change = async (driver: Driver, name: string, password: string) =>
      driver.code('user.password', {
        requestId: newRequestId(),
        name,
        password: await driver.sealPassword(name, password),
      });
    expect(await change(gina, 'gina', 'gina-new-password')).toBe(0);
    expect(await new Driver(node.service).login('gina', 'gina-password')).toBe(CODE.AUTH_FAILED);
    expect(await new Driver(node.service).login('gina', 'gina-new-password')).toBe(0);
    expect(await change(gina, 'hank', 'hank-new-password')).toBe(CODE.ACCESS_DENIED);
    expect(await change(admin, 'hank', 'hank-new-password')).toBe(0);
    expect(await new Driver(node.service).login('hank', 'hank-new-password')).toBe(0);
    expect(await change(admin, 'nobody', 'some-password')).toBe(CODE.CANNOT_OPEN_OBJ);
  });

  it('refuses to delete yourself, or a user that still owns keys; revokes its grants', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await admin.createUser('ivy', 'ivy-password');
    await admin.createUser('jack', 'jack-password');
    expect(await admin.code('user.delete', { requestId: newRequestId(), name: 'admin' })).toBe(
      CODE.SELF_DELETE_REFUSED,
    );
    const ivy = await loggedIn(node.service, 'ivy', 'ivy-password');
    await ivy.call('key.generate', generateFields('ivy-key', 'aes-128'));
    await ivy.call('key.grant', grantFields('ivy-key', 'jack', { use: true }));
    expect(await admin.code('user.delete', { requestId: newRequestId(), name: 'ivy' })).toBe(
      CODE.USER_IN_USE,
    );
    expect(await admin.code('user.delete', { requestId: newRequestId(), name: 'jack' })).toBe(0);
    const object = storedObject(node, 'ivy-key')!;
    expect(object.acl).toEqual([]);
  });

  it('lists users for administrators, in pages', async () => {
    const admin = await newNodeAdmin();
    for (const name of ['u1', 'u2', 'u3']) await admin.createUser(name, `${name}-password`);
    const first = await admin.call('user.list', { limit: 2 });
    expect(first.users.map((entry) => entry.name)).toEqual(['admin', 'u1']);
    expect(first.more).toBe(true);
    const second = await admin.call('user.list', { after: 'u1', limit: 2 });
    expect(second).toEqual({
      users: [expect.objectContaining({ name: 'u2' }), expect.objectContaining({ name: 'u3' })],
      more: false,
    });
  });
});
