// Attack suite, item 3: logins and lockouts that hold. A locked account answers every attempt
// alike; the lock count is exact while its writes are committed but not yet answered; a
// locked-out sole administrator has a recovery path (the local console); an administrator
// cannot take over a key holder's account by resetting its password.

import { describe, expect, it } from 'vitest';
import { runCommand } from '../../host/server/console-commands.ts';
import type { Appliance } from '../../host/appliance/appliance.ts';
import { CODE } from '../../host/core/codes.ts';
import type { WriteRequest } from '../../host/protocol/types.ts';
import {
  ADMIN_PASSWORD,
  Driver,
  loggedIn,
  makeNode,
  newRequestId,
  generateFields,
  storedUser,
} from '../service-fixtures.ts';

describe('a locked account', () => {
  it('answers the right password exactly as a wrong one (38701), and as an unknown user', async () => {
    const node = await makeNode(41);
    const admin = await loggedIn(node.service);
    await admin.setPolicy({ maxFailedLogins: 3 });
    await admin.createUser('alice', 'alice-password');
    for (let i = 0; i < 3; i++)
      expect(await new Driver(node.service).login('alice', `guess-${i}-password`)).toBe(
        CODE.AUTH_FAILED,
      );
    await node.service.settled();
    const answers = [
      await new Driver(node.service).login('alice', 'alice-password'),
      await new Driver(node.service).login('alice', 'another-guess'),
      await new Driver(node.service).login('nobody', 'whatever-password'),
    ];
    expect(answers).toEqual([CODE.AUTH_FAILED, CODE.AUTH_FAILED, CODE.AUTH_FAILED]);
    expect(storedUser(node, 'alice')!.failedLogins).toBe(3); // nothing changed by the tries
  });
});

describe('the lock count under concurrency', () => {
  it('counts every failure once while its write is committed but not yet answered', async () => {
    const node = await makeNode(42);
    const admin = await loggedIn(node.service);
    await admin.setPolicy({ maxFailedLogins: 5 });
    await admin.createUser('bob', 'bob-password');
    // The pool commits each lock-count write at once, but its answer waits (as a real 2PC's
    // reply does after the commit): the store already shows it while the node still waits.
    const submit = node.backend.submit.bind(node.backend);
    const held: (() => void)[] = [];
    node.backend.submit = (write: WriteRequest) => {
      const reply = submit(write);
      if (write.event !== 'SET_USR_LOCK_COUNT') return reply;
      return new Promise((resolve) => held.push(() => resolve(reply)));
    };
    const failed = async (): Promise<number> =>
      new Driver(node.service).login('bob', 'not-bobs-password');
    for (let i = 1; i <= 4; i++) expect(await failed()).toBe(CODE.AUTH_FAILED);
    // Four failures, counted four times, not five: bob is not locked yet.
    const listed = async () =>
      (await admin.call('user.list')).users.find((user) => user.name === 'bob')!;
    expect((await listed()).failedLogins).toBe(4);
    expect(await failed()).toBe(CODE.AUTH_FAILED); // the fifth
    for (let round = 0; round < 20; round++) {
      held.splice(0).forEach((release) => release());
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await node.service.settled();
    expect(storedUser(node, 'bob')!.failedLogins).toBe(5);
    expect(await new Driver(node.service).login('bob', 'bob-password')).toBe(CODE.AUTH_FAILED);
  });

  it('eight users, five concurrent failures each: every one ends locked at exactly 5', async () => {
    const node = await makeNode(43);
    const admin = await loggedIn(node.service);
    await admin.setPolicy({ maxFailedLogins: 5 });
    const names = Array.from({ length: 8 }, (_, i) => `user${i}`);
    for (const name of names) await admin.createUser(name, `${name}-password`);
    const submit = node.backend.submit.bind(node.backend);
    let tick = 0;
    node.backend.submit = (write: WriteRequest) => {
      const reply = submit(write);
      // Answers come back late and in a shuffled order.
      const delay = (tick++ * 7) % 5;
      return new Promise((resolve) => setTimeout(() => resolve(reply), delay));
    };
    await Promise.all(
      names.flatMap((name) =>
        Array.from({ length: 5 }, () => new Driver(node.service).login(name, 'wrong-password')),
      ),
    );
    await node.service.settled();
    for (const name of names) {
      expect(storedUser(node, name)!.failedLogins).toBe(5);
      expect(await new Driver(node.service).login(name, `${name}-password`)).toBe(CODE.AUTH_FAILED);
    }
  });
});

describe('recovering a locked-out sole administrator', () => {
  it("unlocks from the node's local console, and only there (38735 remotely)", async () => {
    const node = await makeNode(44);
    for (let i = 0; i < 5; i++) await new Driver(node.service).login('admin', 'guessed-password');
    await node.service.settled();
    expect(await new Driver(node.service).login('admin', ADMIN_PASSWORD)).toBe(CODE.AUTH_FAILED);
    const appliance = {} as Appliance; // unlock does not touch replication state
    const context = { unlockUser: (name: string) => node.service.unlockFromConsole(name) };
    const remote = await runCommand(appliance, 'remote', 'unlock admin', context);
    expect(remote.code).toBe(CODE.LOCAL_CONSOLE_ONLY);
    expect(storedUser(node, 'admin')!.failedLogins).toBe(5); // the refusal changed nothing
    const local = await runCommand(appliance, 'local', 'unlock admin', context);
    expect(local.code).toBe(0);
    expect(storedUser(node, 'admin')!.failedLogins).toBe(0);
    expect(await new Driver(node.service).login('admin', ADMIN_PASSWORD)).toBe(0);
    expect((await runCommand(appliance, 'local', 'unlock nobody', context)).code).toBe(
      CODE.CANNOT_OPEN_OBJ,
    );
  });
});

describe("an administrator and another user's password", () => {
  it("cannot reset a key holder's password and log in as it (38736); may reset one that holds none", async () => {
    const node = await makeNode(45);
    const admin = await loggedIn(node.service);
    await admin.createUser('carol', 'carol-password');
    await admin.createUser('dave', 'dave-password');
    const carol = await loggedIn(node.service, 'carol', 'carol-password');
    await carol.call('key.generate', generateFields('carol-key', 'aes-256', { exportable: true }));
    const before = node.core.get('user', 'carol');
    const reset = await admin.raw({
      type: 'user.password',
      requestId: newRequestId(),
      name: 'carol',
      password: await admin.sealPassword('carol', 'admin-chosen-password'),
    });
    expect(reset.code).toBe(CODE.RESET_REFUSED_KEYS_HELD);
    expect(node.core.get('user', 'carol')).toEqual(before);
    expect(await new Driver(node.service).login('carol', 'admin-chosen-password')).toBe(
      CODE.AUTH_FAILED,
    );
    // The user itself may; an administrator may for a user that holds no key.
    await carol.call('user.password', {
      requestId: newRequestId(),
      name: 'carol',
      password: await carol.sealPassword('carol', 'carol-new-password'),
    });
    await admin.call('user.password', {
      requestId: newRequestId(),
      name: 'dave',
      password: await admin.sealPassword('dave', 'dave-new-password'),
    });
    expect(await new Driver(node.service).login('dave', 'dave-new-password')).toBe(0);
    expect(await new Driver(node.service).login('carol', 'carol-new-password')).toBe(0);
  });
});
