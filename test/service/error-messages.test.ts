// An error reply carries the code, its name and the detail; the receiver (the SDK) builds its
// HsmError from them, so the code name must not already be in the detail, or it shows twice.

import { expect, it } from 'vitest';
import { CODE, HsmError } from '../../host/core/codes.ts';
import { loggedIn, makeNode } from '../service-fixtures.ts';

const occurrences = (text: string, part: string): number => text.split(part).length - 1;

it('an error reply names its code once when the SDK rebuilds it', async () => {
  const admin = await loggedIn((await makeNode()).service);
  const response = await admin.raw({ type: 'key.export', name: 'missing' });
  expect(response.code).toBe(CODE.CANNOT_OPEN_OBJ);
  const { name, message } = response as { name: string; message: string };
  expect(name).toBe('CANNOT_OPEN_OBJ');
  expect(message).toBe("object 'missing'");
  const rebuilt = new HsmError(response.code, message);
  expect(occurrences(rebuilt.message, 'CANNOT_OPEN_OBJ')).toBe(1);
  expect(rebuilt.message).toBe("CANNOT_OPEN_OBJ (5004): object 'missing'");
});

it('a code without detail replies with its meaning', () => {
  const error = new HsmError(CODE.EXPORT_DISABLED);
  expect(error.detail).toBe('The pool policy forbids key export (keyExportAllowed is off).');
  expect(error.message).toBe(`EXPORT_DISABLED (38709): ${error.detail}`);
});
