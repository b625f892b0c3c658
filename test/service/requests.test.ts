// Bad input: malformed requests and frames get a documented code, change nothing, and leave the
// session working — for a table of known cases and for generated ones.

import { fc, test } from '@fast-check/vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { RETURN_CODES, CODE } from '../../host/core/codes.ts';
import { FRAME_SIZE_MAX, CRYPTO_INPUT_SIZE_MAX, parseRequest } from '../../host/wire/messages.ts';
import {
  encode64,
  loggedIn,
  makeNode,
  newRequestId,
  type Driver,
  type TestNode,
  generateFields,
} from '../service-fixtures.ts';

const DOCUMENTED = new Set(RETURN_CODES.map((entry) => entry.code));
const MALFORMED = CODE.MALFORMED_REQUEST;

let node: TestNode;
let driver: Driver;

beforeAll(async () => {
  node = await makeNode();
  driver = await loggedIn(node.service);
  await driver.call('key.generate', generateFields('k', 'ed25519'));
});

async function expectSessionWorks(): Promise<void> {
  expect(await driver.code('sign', { name: 'k', message: encode64(new Uint8Array(4)) })).toBe(0);
}

describe('malformed requests', () => {
  const cases: [string, unknown, number][] = [
    ['null', null, MALFORMED],
    ['an array', [], MALFORMED],
    ['a string', 'sign', MALFORMED],
    ['no type', {}, MALFORMED],
    ['an unknown type', { type: 'format-disk' }, MALFORMED],
    ['a prototype name as type', { type: '__proto__' }, MALFORMED],
    ['a missing field', { type: 'sign', name: 'k' }, MALFORMED],
    ['a name that is a number', { type: 'sign', name: 5, message: '' }, MALFORMED],
    ['bytes that are not base64', { type: 'sign', name: 'k', message: 'not base64!' }, MALFORMED],
    ['bytes as an array', { type: 'sign', name: 'k', message: [1, 2] }, MALFORMED],
    ['an extra field', { type: 'sign', name: 'k', message: '', extra: 1 }, MALFORMED],
    [
      'a prototype name as field',
      JSON.parse('{"type":"sign","name":"k","message":"","__proto__":{"x":1}}'),
      MALFORMED,
    ],
    [
      'a message over CRYPTO_INPUT_SIZE_MAX',
      { type: 'sign', name: 'k', message: encode64(new Uint8Array(CRYPTO_INPUT_SIZE_MAX + 1)) },
      CODE.INPUT_TOO_LARGE,
    ],
    [
      'a name over 32 characters',
      { type: 'sign', name: 'x'.repeat(33), message: '' },
      CODE.INVALID_OBJ_NAME,
    ],
    [
      'an unknown key type',
      { type: 'key.generate', name: 'n', keyType: 'des', exportable: false, temporary: true },
      MALFORMED,
    ],
    [
      'a boolean as text',
      { type: 'key.generate', name: 'n', keyType: 'aes-128', exportable: 'yes', temporary: true },
      MALFORMED,
    ],
    [
      'a persistent key without request id',
      { type: 'key.generate', name: 'n', keyType: 'aes-128', exportable: false, temporary: false },
      MALFORMED,
    ],
    [
      'an upper-case request id',
      { type: 'key.remove', name: 'k', requestId: 'A'.repeat(32) },
      MALFORMED,
    ],
    ['a short request id', { type: 'key.remove', name: 'k', requestId: 'a'.repeat(31) }, MALFORMED],
    ['a page of 0', { type: 'key.list', limit: 0 }, MALFORMED],
    ['a page over LIST_PAGE_SIZE_MAX', { type: 'key.list', limit: 1001 }, CODE.INPUT_TOO_LARGE],
    [
      'a user page over LIST_PAGE_SIZE_MAX',
      { type: 'user.list', limit: 1001 },
      CODE.INPUT_TOO_LARGE,
    ],
    ['a fractional page', { type: 'key.list', limit: 1.5 }, MALFORMED],
    [
      'a policy out of range',
      {
        type: 'policy.set',
        requestId: newRequestId(),
        minPasswordLength: 8,
        maxFailedLogins: 0,
        keyExportAllowed: true,
        sessionTimeoutSeconds: 900,
      },
      MALFORMED,
    ],
    [
      'a SCRAM message over its limit',
      { type: 'login.finish', clientFinal: 'c'.repeat(1025) },
      CODE.INPUT_TOO_LARGE,
    ],
  ];

  it.each(cases)('%s', async (_, request, expected) => {
    const before = node.core.syncPoint().hex;
    const response = await driver.raw(request);
    expect(response).toMatchObject({
      code: expected,
      name: expect.any(String),
      message: expect.any(String),
    });
    expect(node.core.syncPoint().hex).toBe(before);
    await expectSessionWorks();
  });
});

describe('frames', () => {
  const frame = (text: string) =>
    node.service.handleFrame(driver.session, text).then((reply) => JSON.parse(reply));

  it('answers unreadable frames with a null id', async () => {
    expect(await frame('{not json')).toMatchObject({ id: null, response: { code: MALFORMED } });
    expect(await frame('{"request":{"type":"ping"}}')).toMatchObject({
      id: null,
      response: { code: MALFORMED },
    });
    expect(await frame('{"id":-1,"request":{"type":"ping"}}')).toMatchObject({
      id: null,
      response: { code: MALFORMED },
    });
    expect(await frame(' '.repeat(FRAME_SIZE_MAX + 1))).toMatchObject({
      id: null,
      response: { code: CODE.INPUT_TOO_LARGE },
    });
    await expectSessionWorks();
  });

  it("echoes the id of a readable frame, with the request's answer", async () => {
    expect(await frame('{"id":7,"request":{"type":"ping"}}')).toEqual({
      id: 7,
      response: { code: 0, result: {} },
    });
    expect(await frame('{"id":8,"request":{"type":"sign"}}')).toMatchObject({
      id: 8,
      response: { code: MALFORMED },
    });
    expect(await frame('{"id":9,"request":{"type":"ping"},"more":1}')).toMatchObject({
      id: 9,
      response: { code: MALFORMED },
    });
  });
});

describe('generated bad input', () => {
  const TYPES = [
    'sign',
    'verify',
    'encrypt',
    'decrypt',
    'mac',
    'mac.verify',
    'key.generate',
    'key.import',
    'key.export',
    'key.remove',
    'key.list',
    'key.grant',
    'user.create',
    'user.delete',
    'user.password',
    'policy.set',
    'login.finish',
  ];
  const fieldValue = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom('k', '', 'AAAA', 'a'.repeat(32), 'ed25519', true, false, 1, -1),
  );
  const request = fc
    .record({ type: fc.constantFrom(...TYPES) })
    .chain((base) =>
      fc
        .dictionary(
          fc.constantFrom(
            'name',
            'message',
            'signature',
            'keyType',
            'exportable',
            'temporary',
            'requestId',
            'limit',
            'user',
            'aad',
            'mac',
            'password',
            'material',
            'x',
          ),
          fieldValue,
          { maxKeys: 6 },
        )
        .map((fields) => ({ ...fields, ...base })),
    );

  test.prop([fc.oneof(fc.jsonValue(), request)], { numRuns: 300 })(
    'always a documented code, never a crash, never a change',
    async (value) => {
      const before = node.core.syncPoint().hex;
      const response = await driver.raw(value);
      expect(DOCUMENTED.has(response.code)).toBe(true);
      expect(response.code).not.toBe(CODE.INTERNAL_ERROR);
      expect(node.core.syncPoint().hex).toBe(before);
      expect(driver.session.user).toBe('admin');
    },
  );

  test.prop([fc.string({ maxLength: 200 })], { numRuns: 200 })(
    'frames of any text get a JSON answer',
    async (text) => {
      const reply = JSON.parse(await node.service.handleFrame(driver.session, text));
      expect(DOCUMENTED.has(reply.response.code)).toBe(true);
    },
  );

  it('parseRequest accepts what the client sends', () => {
    expect(
      parseRequest({ type: 'encrypt', name: 'k', plaintext: 'AAAA', aad: undefined }),
    ).toMatchObject({ type: 'encrypt', plaintext: new Uint8Array(3) });
  });
});
