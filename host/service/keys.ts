// Keys: generate, import, export, public key, remove, list, grant — and the operations that use
// them. Persistent keys are ObjectRecords replicated to the pool with their material wrapped
// under the SVMK-derived key; temporary keys live in the session only. Rights: the owner has
// every right; others only what the key's ACL grants (use, export, remove); an administrator
// may remove any key (to retire a user) but never use or export it. Anything else is 5002.

import { CODE, HsmError } from '../core/codes.ts';
import { ACL_ENTRIES_MAX } from '../core/layout.ts';
import type { KeyType, ObjectRecord, UserRecord } from '../core/records.ts';
import type { RequestContext } from './context.ts';
import { GCM_NONCE_SIZE, type KeyBytes } from '../wire/crypto-engine.ts';
import { KEY_SPEC, canonicalMaterial, generateMaterial, loadKey } from './key-material.ts';
import * as operations from './operations.ts';
import { requireFamily } from './operations.ts';
import {
  KEY_MATERIAL_SIZE_MAX,
  LIST_PAGE_SIZE_DEFAULT,
  encodeBytes,
  type Decoded,
  type KeyInfo,
  type ResultOf,
} from '../wire/messages.ts';
import { TEMPORARY_KEYS_MAX } from './session.ts';
import { keyContext, seal, unseal, wrapObjectKey } from '../wire/wrapping.ts';

type Right = 'use' | 'export' | 'remove';

function allowed(object: ObjectRecord, user: UserRecord, right: Right): boolean {
  if (object.owner === user.name) return true;
  if (right === 'remove' && user.admin) return true;
  return object.acl.some((entry) => entry.user === user.name && entry[right]);
}

function visible(object: ObjectRecord, user: UserRecord): boolean {
  return object.owner === user.name || object.acl.some((entry) => entry.user === user.name);
}

function infoOf(object: ObjectRecord, viewer: string): KeyInfo {
  const { name, keyType, exportable, temporary, owner } = object;
  return { name, keyType, exportable, temporary, owner, acl: owner === viewer ? object.acl : [] };
}

interface Resolved {
  readonly info: KeyInfo;
  readonly key: () => Promise<KeyBytes>;
}

/** A key the user may exercise `right` on: the session's temporary keys first, then the store. */
function resolve(context: RequestContext, name: string, right: Right): Resolved {
  const temporary = context.session.temporaryKeys.get(name);
  if (temporary) return { info: temporary.info, key: async () => temporary.key };
  const object = context.node.object(name);
  if (!object) throw new HsmError(CODE.CANNOT_OPEN_OBJ, `object '${name}'`);
  if (!allowed(object, context.user, right))
    throw new HsmError(
      CODE.ACCESS_DENIED,
      `'${context.user.name}' has no ${right} right on '${name}'`,
    );
  return { info: infoOf(object, context.user.name), key: () => context.node.loadObjectKey(object) };
}

// ---- create ----

type CreateRequest = Decoded<'key.generate'> | Decoded<'key.import'>;

async function createTemporary(
  context: RequestContext,
  request: CreateRequest,
  material: () => Promise<Uint8Array>,
): Promise<ResultOf<'key.generate'>> {
  const { session, node } = context;
  const check = (): void => {
    if (session.user !== context.user.name)
      throw new HsmError(CODE.SESSION_EXPIRED, 'the session ended while the key was made');
    if (session.temporaryKeys.has(request.name) || node.recordBytes('object', request.name)) {
      throw new HsmError(CODE.OBJ_ALREADY_EXISTS, `object '${request.name}'`);
    }
    if (session.temporaryKeys.size >= TEMPORARY_KEYS_MAX)
      throw new HsmError(CODE.TOO_MANY_TEMPORARY_KEYS);
  };
  check();
  const { name, keyType, exportable } = request;
  const key = await loadKey(node.engine, keyType, await material());
  check(); // again: other requests of this session ran while the key was made
  const info: KeyInfo = {
    name,
    keyType,
    exportable,
    temporary: true,
    owner: context.user.name,
    acl: [],
  };
  session.temporaryKeys.set(name, { info, key });
  return { key: info };
}

async function createPersistent(
  context: RequestContext,
  request: CreateRequest,
  material: () => Promise<Uint8Array>,
): Promise<ResultOf<'key.generate'>> {
  const { node, user } = context;
  const requestId = request.requestId;
  if (requestId === undefined)
    throw new HsmError(CODE.MALFORMED_REQUEST, 'requestId: required for a persistent key');
  if (context.session.temporaryKeys.has(request.name))
    throw new HsmError(CODE.OBJ_ALREADY_EXISTS, `temporary object '${request.name}'`);
  const existing = node.recordBytes('object', request.name);
  if (existing) {
    // 5022 — or, if this request created it before its reply was lost, the original outcome.
    const result = await node.submit(
      requestId,
      'CREATE_OBJ',
      [{ op: 'insert', record: existing }],
      user.name,
      request.name,
    );
    return { key: infoOf(node.object(request.name)!, user.name), ...result };
  }
  const { name, keyType, exportable } = request;
  const wrapped = await wrapObjectKey(
    node.engine,
    node.wrapKey,
    name,
    keyType,
    await material(),
    node.backend.randomBytes(GCM_NONCE_SIZE),
  );
  const record: ObjectRecord = {
    kind: 'object',
    name,
    keyType,
    exportable,
    temporary: false,
    owner: user.name,
    acl: [],
    wrapped,
  };
  const result = await node.submit(
    requestId,
    'CREATE_OBJ',
    [{ op: 'insert', record: node.encode(record) }],
    user.name,
    name,
  );
  return { key: infoOf(node.object(name) ?? record, user.name), ...result };
}

export async function generateKey(
  context: RequestContext,
  request: Decoded<'key.generate'>,
): Promise<ResultOf<'key.generate'>> {
  const { engine, backend } = context.node;
  const material = (): Promise<Uint8Array> =>
    generateMaterial(engine, request.keyType, (length) => backend.randomBytes(length));
  return request.temporary
    ? createTemporary(context, request, material)
    : createPersistent(context, request, material);
}

export async function importKey(
  context: RequestContext,
  request: Decoded<'key.import'>,
): Promise<ResultOf<'key.import'>> {
  const { engine } = context.node;
  const plain = await unseal(
    engine,
    context.sessionKey,
    'key-import',
    keyContext(request.name, request.keyType),
    request.material,
  );
  if (plain.length > KEY_MATERIAL_SIZE_MAX)
    throw new HsmError(CODE.INPUT_TOO_LARGE, `material: at most ${KEY_MATERIAL_SIZE_MAX} bytes`);
  const material = await canonicalMaterial(engine, request.keyType, plain);
  const given = async (): Promise<Uint8Array> => material;
  return request.temporary
    ? createTemporary(context, request, given)
    : createPersistent(context, request, given);
}

// ---- read ----

export async function exportKey(
  context: RequestContext,
  request: Decoded<'key.export'>,
): Promise<ResultOf<'key.export'>> {
  const resolved = resolve(context, request.name, 'export');
  if (!resolved.info.exportable)
    throw new HsmError(CODE.KEY_NOT_EXPORTABLE, `object '${request.name}'`);
  if (!context.node.policy().keyExportAllowed) throw new HsmError(CODE.EXPORT_DISABLED);
  const { material } = await resolved.key();
  const nonce = context.node.backend.randomBytes(GCM_NONCE_SIZE);
  const sealed = await seal(
    context.node.engine,
    context.sessionKey,
    'key-export',
    keyContext(request.name, resolved.info.keyType),
    material,
    nonce,
  );
  return { material: encodeBytes(sealed), keyType: resolved.info.keyType };
}

export async function publicKey(
  context: RequestContext,
  request: Decoded<'key.publicKey'>,
): Promise<ResultOf<'key.publicKey'>> {
  const resolved = resolve(context, request.name, 'use');
  // Signature keys and X25519 have a public key; symmetric keys do not (WRONG_KEY_TYPE).
  if (KEY_SPEC[resolved.info.keyType].family !== 'agreement')
    requireFamily(resolved.info.keyType, 'signature', 'publicKey');
  return { publicKey: encodeBytes((await resolved.key()).publicKey!) };
}

export function listKeys(
  context: RequestContext,
  request: Decoded<'key.list'>,
): ResultOf<'key.list'> {
  const { user, session } = context;
  if (request.owner !== undefined && request.owner !== user.name && !user.admin) {
    throw new HsmError(CODE.ACCESS_DENIED, 'only an administrator lists the keys of another user');
  }
  const wanted = (object: ObjectRecord): boolean =>
    request.owner === undefined ? visible(object, user) : object.owner === request.owner;
  const keys = context.node
    .objects()
    .filter(wanted)
    .map((object) => infoOf(object, user.name));
  if (request.owner === undefined || request.owner === user.name)
    keys.push(...[...session.temporaryKeys.values()].map((entry) => entry.info));
  const after = request.after ?? '';
  const limit = request.limit ?? LIST_PAGE_SIZE_DEFAULT;
  const sorted = keys.filter((key) => key.name > after).sort((a, b) => (a.name < b.name ? -1 : 1));
  return { keys: sorted.slice(0, limit), more: sorted.length > limit };
}

// ---- change ----

export async function removeKey(
  context: RequestContext,
  request: Decoded<'key.remove'>,
): Promise<ResultOf<'key.remove'>> {
  const { node, session, user } = context;
  if (session.temporaryKeys.delete(request.name)) return {};
  if (request.requestId === undefined)
    throw new HsmError(CODE.MALFORMED_REQUEST, 'requestId: required to remove a persistent key');
  const object = node.object(request.name);
  if (object && !allowed(object, user, 'remove'))
    throw new HsmError(
      CODE.ACCESS_DENIED,
      `'${user.name}' has no remove right on '${request.name}'`,
    );
  // A missing object is still submitted: 5004, or the original outcome of this request's first try.
  const result = await node.submit(
    request.requestId,
    'DELETE_OBJ',
    [{ op: 'delete', kind: 'object', name: request.name }],
    user.name,
    request.name,
  );
  node.forgetObjectKey(request.name);
  return result;
}

/** Sets one user's rights on a key (all false revokes). Only the owner grants. */
export async function grantKey(
  context: RequestContext,
  request: Decoded<'key.grant'>,
): Promise<ResultOf<'key.grant'>> {
  const { node, session, user } = context;
  if (session.temporaryKeys.has(request.name))
    throw new HsmError(CODE.ACL_INVALID, 'a temporary key cannot be shared');
  const object = node.object(request.name);
  if (!object) throw new HsmError(CODE.CANNOT_OPEN_OBJ, `object '${request.name}'`);
  if (object.owner !== user.name)
    throw new HsmError(CODE.ACCESS_DENIED, 'only the owner grants rights');
  if (request.user === object.owner)
    throw new HsmError(CODE.ACL_INVALID, 'the owner always has every right');
  const granting = request.use || request.export || request.remove;
  if (granting && !node.user(request.user))
    throw new HsmError(CODE.CANNOT_OPEN_OBJ, `user '${request.user}'`);
  const acl = object.acl.filter((entry) => entry.user !== request.user);
  if (granting)
    acl.push({
      user: request.user,
      use: request.use,
      export: request.export,
      remove: request.remove,
    });
  if (acl.length > ACL_ENTRIES_MAX)
    throw new HsmError(CODE.ACL_INVALID, `at most ${ACL_ENTRIES_MAX} users per key`);
  const record = node.encode({ ...object, acl });
  return node.submit(
    request.requestId,
    'ACL_UPDATE',
    [{ op: 'replace', record, expected: node.token('object', object.name) }],
    user.name,
    request.name,
  );
}

// ---- use (served by this node alone) ----

async function usable(
  context: RequestContext,
  name: string,
  family: 'cipher' | 'mac' | 'signature',
  operation: string,
): Promise<{ keyType: KeyType; key: KeyBytes }> {
  const resolved = resolve(context, name, 'use');
  requireFamily(resolved.info.keyType, family, operation);
  return { keyType: resolved.info.keyType, key: await resolved.key() };
}

export async function signMessage(
  context: RequestContext,
  request: Decoded<'sign'>,
): Promise<ResultOf<'sign'>> {
  const { keyType, key } = await usable(context, request.name, 'signature', 'sign');
  return {
    signature: encodeBytes(
      await operations.sign(context.node.engine, keyType, key, request.message),
    ),
  };
}

export async function verifySignature(
  context: RequestContext,
  request: Decoded<'verify'>,
): Promise<ResultOf<'verify'>> {
  const { keyType, key } = await usable(context, request.name, 'signature', 'verify');
  return {
    valid: await operations.verify(
      context.node.engine,
      keyType,
      key,
      request.message,
      request.signature,
    ),
  };
}

export async function encryptMessage(
  context: RequestContext,
  request: Decoded<'encrypt'>,
): Promise<ResultOf<'encrypt'>> {
  const { keyType, key } = await usable(context, request.name, 'cipher', 'encrypt');
  const nonce = context.node.backend.randomBytes(GCM_NONCE_SIZE);
  const aad = request.aad ?? new Uint8Array(0);
  return {
    ciphertext: encodeBytes(
      await operations.encrypt(context.node.engine, keyType, key, nonce, request.plaintext, aad),
    ),
  };
}

export async function decryptMessage(
  context: RequestContext,
  request: Decoded<'decrypt'>,
): Promise<ResultOf<'decrypt'>> {
  const { keyType, key } = await usable(context, request.name, 'cipher', 'decrypt');
  const aad = request.aad ?? new Uint8Array(0);
  return {
    plaintext: encodeBytes(
      await operations.decrypt(context.node.engine, keyType, key, request.ciphertext, aad),
    ),
  };
}

export async function macMessage(
  context: RequestContext,
  request: Decoded<'mac'>,
): Promise<ResultOf<'mac'>> {
  const { keyType, key } = await usable(context, request.name, 'mac', 'mac');
  return {
    mac: encodeBytes(await operations.mac(context.node.engine, keyType, key, request.message)),
  };
}

export async function verifyMac(
  context: RequestContext,
  request: Decoded<'mac.verify'>,
): Promise<ResultOf<'mac.verify'>> {
  const { keyType, key } = await usable(context, request.name, 'mac', 'mac.verify');
  return {
    valid: await operations.macVerify(
      context.node.engine,
      keyType,
      key,
      request.message,
      request.mac,
    ),
  };
}
