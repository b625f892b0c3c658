// Logging in: unknown users and wrong passwords look the same, the lock count is a replicated
// write and locks at the policy's maxFailedLogins, sessions expire, steps must come in order.

import { describe, expect, it } from 'vitest';
import { CODE } from '../../host/core/codes.ts';
import { ScramClient } from '../../host/wire/scram.ts';
import {
  ADMIN_PASSWORD,
  Driver,
  loggedIn,
  makeNode,
  makePool,
  newRequestId,
  storedUser,
} from '../service-fixtures.ts';

async function serverFirstOf(driver: Driver, user: string): Promise<string> {
  const client = new ScramClient(user, 'constant-nonce-0123456789');
  const response = await driver.raw({ type: 'login.start', clientFirst: client.clientFirst });
  return (response as { result: { serverFirst: string } }).result.serverFirst;
}

describe('login', () => {
  it('logs the administrator in and tells who it is', async () => {
    const node = await makeNode();
    const driver = new Driver(node.service);
    expect(await driver.login('admin', ADMIN_PASSWORD)).toBe(0);
    expect(await driver.call('policy.get')).toMatchObject({ maxFailedLogins: 5 });
  });

  it('answers an unknown user and a wrong password the same way', async () => {
    const node = await makeNode();
    const driver = new Driver(node.service);
    const unknown = await driver.raw({
      type: 'login.start',
      clientFirst: new ScramClient('nobody', 'n0nce-n0nce-n0nce').clientFirst,
    });
    expect(unknown.code).toBe(0);
    expect(await driver.login('nobody', 'whatever-password')).toBe(CODE.AUTH_FAILED);
    expect(await driver.login('admin', 'wrong-password')).toBe(CODE.AUTH_FAILED);
    const responses = [];
    for (const user of ['nobody', 'admin']) {
      const client = new ScramClient(user, 'n0nce-n0nce-n0nce');
      await driver.raw({ type: 'login.start', clientFirst: client.clientFirst });
      responses.push(
        await driver.raw({
          type: 'login.finish',
          clientFinal: `c=biws,r=${'x'.repeat(10)},p=${'A'.repeat(43)}=`,
        }),
      );
    }
    expect(responses[0]).toEqual(responses[1]);
  });

  it('gives an unknown user a stable salt shaped like a real one', async () => {
    const node = await makeNode();
    const driver = new Driver(node.service);
    const first = await serverFirstOf(driver, 'nobody');
    const second = await serverFirstOf(driver, 'nobody');
    const real = await serverFirstOf(driver, 'admin');
    const shape = (serverFirst: string) => serverFirst.replace(/^r=[^,]*,s=[^,]*,/, '');
    const salt = (serverFirst: string) => /,s=([^,]*),/.exec(serverFirst)![1];
    expect(salt(first)).toBe(salt(second));
    expect(salt(first).length).toBe(salt(real).length);
    expect(shape(first)).toBe(shape(real));
    expect(await serverFirstOf(driver, 'someone')).not.toContain(salt(first));
  });

  it('counts failures in the replicated record, locks at maxFailedLogins and then answers every attempt alike', async () => {
    const pool = await makePool(2);
    const [a, b] = pool.nodes;
    const admin = await loggedIn(a.service);
    await admin.setPolicy({ maxFailedLogins: 3 });
    await admin.createUser('alice', 'alice-password');
    const attacker = new Driver(b.service);
    for (let i = 1; i <= 3; i++) {
      expect(await attacker.login('alice', `guess-${i}-password`)).toBe(CODE.AUTH_FAILED);
      await b.service.settled();
      expect(storedUser(a, 'alice')!.failedLogins).toBe(i); // replicated: node a sees node b's count
    }
    expect(await attacker.login('alice', 'guess-4-password')).toBe(CODE.AUTH_FAILED);
    await b.service.settled();
    expect(storedUser(a, 'alice')!.failedLogins).toBe(3);
    // Locked: the right password gets the same answer as a guess (the lock confirms nothing).
    expect(await new Driver(a.service).login('alice', 'alice-password')).toBe(CODE.AUTH_FAILED);
    const users = await admin.call('user.list');
    expect(users.users.find((user) => user.name === 'alice')).toMatchObject({
      locked: true,
      failedLogins: 3,
    });
    await admin.call('user.unlock', { requestId: newRequestId(), name: 'alice' });
    expect(storedUser(b, 'alice')!.failedLogins).toBe(0);
    expect(await new Driver(b.service).login('alice', 'alice-password')).toBe(0);
  });

  it('clears the count at a successful login', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await admin.createUser('bob', 'bob-password');
    expect(await new Driver(node.service).login('bob', 'not-bobs-password')).toBe(CODE.AUTH_FAILED);
    await node.service.settled();
    expect(storedUser(node, 'bob')!.failedLogins).toBe(1);
    expect(await new Driver(node.service).login('bob', 'bob-password')).toBe(0);
    await node.service.settled();
    expect(storedUser(node, 'bob')!.failedLogins).toBe(0);
  });

  it('holds the lock on this node while the pool cannot record the failures', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await admin.setPolicy({ maxFailedLogins: 2 });
    await admin.createUser('carol', 'carol-password');
    const submit = node.backend.submit.bind(node.backend);
    node.backend.submit = async (write) => ({ requestId: write.requestId, code: 36000 });
    for (let i = 0; i < 3; i++)
      expect(await new Driver(node.service).login('carol', 'wrong-password')).toBe(
        CODE.AUTH_FAILED,
      );
    await node.service.settled();
    expect(storedUser(node, 'carol')!.failedLogins).toBe(0); // nothing recorded yet
    expect(await new Driver(node.service).login('carol', 'carol-password')).toBe(CODE.AUTH_FAILED);
    expect((await loggedIn(node.service).then((d) => d.call('user.list'))).users).toContainEqual(
      expect.objectContaining({ name: 'carol', locked: true }),
    );
    node.backend.submit = submit;
    expect(await new Driver(node.service).login('carol', 'wrong-password')).toBe(CODE.AUTH_FAILED);
    await node.service.settled();
  });

  it('refuses login steps out of order and requests before login', async () => {
    const node = await makeNode();
    const driver = new Driver(node.service);
    expect(await driver.code('login.finish', { clientFinal: 'c=biws,r=x,p=AAAA' })).toBe(
      CODE.NOT_AUTHENTICATED,
    );
    expect(await driver.code('key.list')).toBe(CODE.NOT_AUTHENTICATED);
    expect(await driver.code('ping')).toBe(0);
    expect(await driver.code('login.start', { clientFirst: 'hello' })).toBe(CODE.MALFORMED_REQUEST);
    expect(await driver.login('admin', ADMIN_PASSWORD)).toBe(0);
    expect(await driver.code('key.list')).toBe(0);
    expect(await driver.code('logout')).toBe(0);
    expect(await driver.code('key.list')).toBe(CODE.NOT_AUTHENTICATED);
  });

  it('ends a session idle longer than the policy allows, and one whose user was deleted', async () => {
    const node = await makeNode();
    const admin = await loggedIn(node.service);
    await admin.createUser('dave', 'dave-password');
    const dave = await loggedIn(node.service, 'dave', 'dave-password');
    node.clock.advance(899_000);
    expect(await dave.code('key.list')).toBe(0);
    node.clock.advance(901_000);
    expect(await dave.code('key.list')).toBe(CODE.SESSION_EXPIRED);
    expect(await dave.code('key.list')).toBe(CODE.NOT_AUTHENTICATED);
    expect(await dave.login('dave', 'dave-password')).toBe(0);
    const adminAgain = await loggedIn(node.service);
    await adminAgain.call('user.delete', { requestId: newRequestId(), name: 'dave' });
    expect(await dave.code('key.list')).toBe(CODE.SESSION_EXPIRED);
  });

  it('refuses sessions beyond SESSIONS_MAX with SERVER_BUSY', async () => {
    const node = await makeNode();
    const sessions = [];
    for (let i = 0; i < 1024; i++) sessions.push(node.service.openSession());
    expect(() => node.service.openSession()).toThrow(expect.objectContaining({ code: 5304 }));
    node.service.closeSession(sessions[0]);
    expect(node.service.openSession()).toBeDefined();
  });
});
