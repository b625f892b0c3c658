// The record codec over the core (docs/FORMATS.md "Records"): a record object to the bytes the
// store keeps and back, validated by assembly/codec.ts. Core.encode and Core.decode call these.

import { CODE, HsmError } from './codes.ts';
import type { CoreExports } from './core-exports.ts';
import * as L from './layout.ts';
import {
  KEY_BITS,
  KEY_TYPES,
  KIND_OF_NUMBER,
  compareNameBytes,
  fromUtf8,
  utf8,
  type AclEntry,
  type KeyType,
  type ObjectRecord,
  type PolicyRecord,
  type StoreRecord,
  type UserRecord,
} from './records.ts';

/** What the codec uses of Core (Core satisfies it; naming it here keeps core.ts and this file
 * from importing each other). */
export interface CodecCore {
  readonly exports: Pick<
    CoreExports,
    'record_decode' | 'record_encode_user' | 'record_encode_object' | 'record_encode_policy'
  >;
  readonly io: number;
  readonly result: number;
  put(data: Uint8Array, offset?: number): number;
  copyOut(address: number, length: number): Uint8Array;
  dataView(): DataView;
}

export function encodeRecord(core: CodecCore, record: StoreRecord): Uint8Array {
  const out = core.io;
  const fields = L.RECORD_SIZE_MAX + 64; // scratch after the output area
  let written: number;
  if (record.kind === 'user') written = encodeUser(core, out, fields, record);
  else if (record.kind === 'object') written = encodeObject(core, out, fields, record);
  else {
    written = core.exports.record_encode_policy(
      out,
      record.minPasswordLength,
      record.maxFailedLogins,
      record.keyExportAllowed ? 1 : 0,
      record.sessionTimeoutSeconds,
    );
  }
  if (written < 0) throw new HsmError(-written, `cannot encode ${record.kind} '${record.name}'`);
  return core.copyOut(out, written);
}

function encodeUser(core: CodecCore, out: number, scratch: number, user: UserRecord): number {
  const name = utf8(user.name);
  if (user.storedKey.length !== 32 || user.serverKey.length !== 32)
    throw new HsmError(CODE.RECORD_BAD_FIELD, 'verifier keys must be 32 bytes');
  const nameAt = core.put(name, scratch - core.io);
  const saltAt = core.put(user.salt.subarray(0, 255), scratch - core.io + 64);
  const verifierAt = core.put(user.storedKey, scratch - core.io + 64 + 256);
  core.put(user.serverKey, scratch - core.io + 64 + 256 + 32);
  const [kdf, cost, block, parallel] =
    user.kdf.kdf === 'scrypt'
      ? [1, user.kdf.log2N, user.kdf.r, user.kdf.p]
      : [2, user.kdf.iterations, 0, 0];
  if (name.length > 255 || user.salt.length > 255)
    throw new HsmError(name.length > 255 ? CODE.RECORD_BAD_NAME : CODE.RECORD_BAD_FIELD);
  return core.exports.record_encode_user(
    out,
    nameAt,
    name.length,
    user.admin ? 1 : 0,
    user.failedLogins,
    kdf,
    saltAt,
    user.salt.length,
    cost >>> 0,
    block >>> 0,
    parallel >>> 0,
    verifierAt,
  );
}

function encodeObject(core: CodecCore, out: number, scratch: number, object: ObjectRecord): number {
  const name = utf8(object.name);
  const owner = utf8(object.owner);
  if (name.length > 255 || owner.length > 255) throw new HsmError(CODE.RECORD_BAD_NAME);
  if (object.acl.length > L.ACL_ENTRIES_MAX)
    throw new HsmError(CODE.RECORD_BAD_FIELD, `at most ${L.ACL_ENTRIES_MAX} ACL entries`);
  if (object.wrapped.length > L.WRAPPED_KEY_SIZE_MAX)
    throw new HsmError(CODE.RECORD_BAD_FIELD, 'wrapped key too long');
  const entries = object.acl
    .map((entry) => ({
      name: utf8(entry.user),
      rights: (entry.use ? 1 : 0) | (entry.export ? 2 : 0) | (entry.remove ? 4 : 0),
    }))
    .sort((a, b) => compareNameBytes(a.name, b.name));
  let aclSize = 0;
  for (const entry of entries) {
    if (entry.name.length > 255) throw new HsmError(CODE.RECORD_BAD_NAME);
    aclSize += 2 + entry.name.length;
  }
  const acl = new Uint8Array(aclSize);
  let at = 0;
  for (const entry of entries) {
    acl[at] = entry.name.length;
    acl[at + 1] = entry.rights;
    acl.set(entry.name, at + 2);
    at += 2 + entry.name.length;
  }
  const base = scratch - core.io;
  const nameAt = core.put(name, base);
  const ownerAt = core.put(owner, base + 256);
  const aclAt = core.put(acl, base + 512);
  const wrappedAt = core.put(object.wrapped, base + 512 + acl.length);
  const keyType = KEY_TYPES.indexOf(object.keyType) + 1;
  const attributes = (object.exportable ? 1 : 0) | (object.temporary ? 2 : 0);
  return core.exports.record_encode_object(
    out,
    nameAt,
    name.length,
    keyType,
    attributes,
    ownerAt,
    owner.length,
    aclAt,
    entries.length,
    acl.length,
    wrappedAt,
    object.wrapped.length,
  );
}

/** Validates and decodes a record; throws HsmError with the codec's code. */
export function decodeRecord(core: CodecCore, bytes: Uint8Array): StoreRecord {
  const address = core.put(bytes);
  const code = core.exports.record_decode(address, bytes.length);
  if (code !== 0) throw new HsmError(code);
  const view = core.dataView();
  const field = (index: number): number => view.getUint32(core.result + L.R_VIEW + index * 4, true);
  const slice = (offset: number, length: number): Uint8Array =>
    bytes.slice(offset, offset + length);
  const kind = KIND_OF_NUMBER[field(0)]!;
  const name = fromUtf8(slice(field(1), field(2)));
  if (kind === 'user') {
    const kdfNumber = field(6);
    return {
      kind,
      name,
      admin: (field(4) & 1) !== 0,
      failedLogins: field(5),
      kdf:
        kdfNumber === 1
          ? { kdf: 'scrypt', log2N: field(9), r: field(10), p: field(11) }
          : { kdf: 'pbkdf2-sha256', iterations: field(9) },
      salt: slice(field(7), field(8)),
      storedKey: slice(field(12), 32),
      serverKey: slice(field(12) + 32, 32),
    };
  }
  if (kind === 'object') {
    const acl: AclEntry[] = [];
    let at = field(9);
    for (let i = 0; i < field(10); i++) {
      const length = bytes[at];
      const rights = bytes[at + 1];
      acl.push({
        user: fromUtf8(slice(at + 2, length)),
        use: (rights & 1) !== 0,
        export: (rights & 2) !== 0,
        remove: (rights & 4) !== 0,
      });
      at += 2 + length;
    }
    const keyType: KeyType = KEY_TYPES[field(4) - 1];
    if (KEY_BITS[keyType] !== field(6)) throw new HsmError(CODE.RECORD_BAD_FIELD);
    return {
      kind,
      name,
      keyType,
      exportable: (field(5) & 1) !== 0,
      temporary: (field(5) & 2) !== 0,
      owner: fromUtf8(slice(field(7), field(8))),
      acl,
      wrapped: slice(field(11), field(12)),
    };
  }
  const policy: PolicyRecord = {
    kind: 'policy',
    name: 'pool',
    minPasswordLength: field(4),
    maxFailedLogins: field(5),
    keyExportAllowed: (field(6) & 1) !== 0,
    sessionTimeoutSeconds: field(7),
  };
  return policy;
}
