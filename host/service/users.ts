// Users and the pool policy: the administrator a new pool starts with, create, delete, change
// password, unlock, list — every change a replicated write. Passwords arrive sealed under the
// session key (wrapping.ts) and are stored only as SCRAM verifiers (StoredKey, ServerKey).
// Administrators manage users and the policy; they never use or export others' keys (so they
// set the password only of a user that holds no keys).

import type { Operation } from '../core/batch.ts';
import { CODE, HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import { WRITE_OPS_MAX } from '../core/layout.ts';
import { type KdfParameters, type PolicyRecord, type UserRecord } from '../core/records.ts';
import type { WriteRequest } from '../protocol/types.ts';
import { DEFAULT_POLICY, PRODUCTION_KDF, SALT_SIZE, type RequestContext } from './context.ts';
import { CryptoEngine } from '../wire/crypto-engine.ts';
import { toHex } from '../wire/bytes.ts';
import { secureRandomBytes } from '../wire/random.ts';
import type { FailedLogins } from './login.ts';
import {
  LIST_PAGE_SIZE_DEFAULT,
  PASSWORD_LENGTH_MAX,
  type Decoded,
  type Policy,
  type ResultOf,
  type UserInfo,
} from '../wire/messages.ts';
import { saltPassword, scramKeys } from '../wire/scram.ts';
import { unseal } from '../wire/wrapping.ts';

/** Characters of a generated administrator password (62 symbols: about 119 bits). */
export const GENERATED_PASSWORD_LENGTH = 20;
const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A user record with a fresh salt and the SCRAM verifier of `password`. */
export async function newUserRecord(
  engine: CryptoEngine,
  name: string,
  password: string,
  admin: boolean,
  kdf: KdfParameters,
  salt: Uint8Array,
): Promise<UserRecord> {
  const { storedKey, serverKey } = scramKeys(await saltPassword(engine, password, salt, kdf));
  return { kind: 'user', name, admin, failedLogins: 0, kdf, salt, storedKey, serverKey };
}

export function checkPassword(password: string, policy: Policy): void {
  if (password.length < policy.minPasswordLength || password.length > PASSWORD_LENGTH_MAX) {
    throw new HsmError(
      CODE.PASSWORD_POLICY,
      `a password has ${policy.minPasswordLength} to ${PASSWORD_LENGTH_MAX} characters`,
    );
  }
}

export function generatePassword(randomBytes: (length: number) => Uint8Array): string {
  let out = '';
  while (out.length < GENERATED_PASSWORD_LENGTH) {
    // Rejection sampling: 248 = 4 · 62, so every symbol is equally likely.
    for (const byte of randomBytes(GENERATED_PASSWORD_LENGTH)) {
      if (byte < 248 && out.length < GENERATED_PASSWORD_LENGTH) out += PASSWORD_ALPHABET[byte % 62];
    }
  }
  return out;
}

// ---- a new pool ----

export interface BootstrapOptions {
  /** Encodes the records (any Core: records are validated, not stored). */
  readonly core: Core;
  readonly administrator?: string;
  /** Given, or generated (GENERATED_PASSWORD_LENGTH characters) and returned. */
  readonly password?: string;
  readonly kdf?: KdfParameters;
  readonly policy?: Partial<Policy>;
  readonly randomBytes?: (length: number) => Uint8Array;
  readonly engine?: CryptoEngine;
}

export interface Bootstrap {
  readonly password: string;
  readonly passwordGenerated: boolean;
  readonly records: readonly [UserRecord, PolicyRecord];
  /** The write that creates them: submit it to the first node of the pool. */
  readonly write: WriteRequest;
}

/** The administrator and policy a pool starts with. */
export async function bootstrapPool(options: BootstrapOptions): Promise<Bootstrap> {
  const randomBytes = options.randomBytes ?? secureRandomBytes;
  const name = options.administrator ?? 'admin';
  const policy: PolicyRecord = {
    kind: 'policy',
    name: 'pool',
    ...DEFAULT_POLICY,
    ...options.policy,
  };
  const password = options.password ?? generatePassword(randomBytes);
  checkPassword(password, policy);
  const engine = options.engine ?? new CryptoEngine();
  const admin = await newUserRecord(
    engine,
    name,
    password,
    true,
    options.kdf ?? PRODUCTION_KDF,
    randomBytes(SALT_SIZE),
  );
  const operations: Operation[] = [
    { op: 'insert', record: options.core.encode(admin) },
    { op: 'insert', record: options.core.encode(policy) },
  ];
  const write: WriteRequest = {
    kind: 'write',
    requestId: toHex(randomBytes(16)),
    event: 'CREATE_USR',
    operations,
    sourceUser: name,
    target: name,
  };
  return {
    password,
    passwordGenerated: options.password === undefined,
    records: [admin, policy],
    write,
  };
}

// ---- handlers ----

export function requireAdmin(context: RequestContext): void {
  if (!context.user.admin)
    throw new HsmError(CODE.ACCESS_DENIED, 'only an administrator manages users and the policy');
}

async function unsealPassword(
  context: RequestContext,
  userName: string,
  sealed: Uint8Array,
): Promise<string> {
  const bytes = await unseal(context.node.engine, context.sessionKey, 'password', userName, sealed);
  let password: string;
  try {
    password = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HsmError(CODE.MALFORMED_REQUEST, 'password: not UTF-8');
  }
  checkPassword(password, context.node.policy());
  return password;
}

export async function createUser(
  context: RequestContext,
  request: Decoded<'user.create'>,
): Promise<ResultOf<'user.create'>> {
  requireAdmin(context);
  const { node } = context;
  const password = await unsealPassword(context, request.name, request.password);
  const existing = node.recordBytes('user', request.name);
  // Inserting the existing record fails with 5022 — unless this very request created it
  // (a retry after a lost reply), which the pool answers with the original outcome.
  if (existing)
    return node.submit(
      request.requestId,
      'CREATE_USR',
      [{ op: 'insert', record: existing }],
      context.user.name,
      request.name,
    );
  const record = await newUserRecord(
    node.engine,
    request.name,
    password,
    request.admin,
    node.kdf,
    node.backend.randomBytes(SALT_SIZE),
  );
  return node.submit(
    request.requestId,
    'CREATE_USR',
    [{ op: 'insert', record: node.encode(record) }],
    context.user.name,
    request.name,
  );
}

/** Deletes a user that owns no objects, revoking its grants in the same write. */
export async function deleteUser(
  context: RequestContext,
  request: Decoded<'user.delete'>,
): Promise<ResultOf<'user.delete'>> {
  requireAdmin(context);
  const { node } = context;
  if (request.name === context.user.name) throw new HsmError(CODE.SELF_DELETE_REFUSED);
  const operations: Operation[] = [{ op: 'delete', kind: 'user', name: request.name }];
  if (node.user(request.name)) {
    const objects = node.objects();
    const owned = objects.filter((object) => object.owner === request.name).length;
    const granted = objects.filter((object) =>
      object.acl.some((entry) => entry.user === request.name),
    );
    if (owned > 0)
      throw new HsmError(CODE.USER_IN_USE, `'${request.name}' owns ${owned} object(s)`);
    if (granted.length > WRITE_OPS_MAX - 1)
      throw new HsmError(CODE.USER_IN_USE, `'${request.name}' is named in ${granted.length} ACLs`);
    for (const object of granted) {
      const acl = object.acl.filter((entry) => entry.user !== request.name);
      operations.push({
        op: 'replace',
        record: node.encode({ ...object, acl }),
        expected: node.token('object', object.name),
      });
    }
  }
  // A missing user is still submitted: 5004, or the original outcome of this request's first try.
  return node.submit(request.requestId, 'DELETE_USR', operations, context.user.name, request.name);
}

export async function changePassword(
  context: RequestContext,
  request: Decoded<'user.password'>,
): Promise<ResultOf<'user.password'>> {
  if (request.name !== context.user.name) requireAdmin(context);
  const { node } = context;
  const password = await unsealPassword(context, request.name, request.password);
  const user = node.user(request.name);
  const expected = node.token('user', request.name);
  if (!user) throw new HsmError(CODE.CANNOT_OPEN_OBJ, `user '${request.name}'`);
  // The admin-reset model (docs/SECURITY.md): an administrator never uses another's key, so it
  // may set the password only of a user that holds none — else it could log in as the user and
  // use them. A user with keys changes its own password, proving the old one by logging in.
  if (request.name !== context.user.name) {
    const held = node
      .objects()
      .filter(
        (object) =>
          object.owner === user.name || object.acl.some((entry) => entry.user === user.name),
      ).length;
    if (held > 0)
      throw new HsmError(
        CODE.RESET_REFUSED_KEYS_HELD,
        `'${user.name}' holds ${held} key(s): only the user may change its password`,
      );
  }
  const record = await newUserRecord(
    node.engine,
    user.name,
    password,
    user.admin,
    node.kdf,
    node.backend.randomBytes(SALT_SIZE),
  );
  return node.submit(
    request.requestId,
    'CHANGE_USR_PWD',
    [{ op: 'replace', record: node.encode(record), expected }],
    context.user.name,
    user.name,
  );
}

export async function unlockUser(
  context: RequestContext,
  failures: FailedLogins,
  request: Decoded<'user.unlock'>,
): Promise<ResultOf<'user.unlock'>> {
  requireAdmin(context);
  const { node } = context;
  const user = node.user(request.name);
  if (!user) throw new HsmError(CODE.CANNOT_OPEN_OBJ, `user '${request.name}'`);
  failures.forget(user.name);
  if (user.failedLogins === 0) return {};
  const record = node.encode({ ...user, failedLogins: 0 });
  return node.submit(
    request.requestId,
    'SET_USR_LOCK_COUNT',
    [{ op: 'replace', record, expected: node.token('user', user.name) }],
    context.user.name,
    user.name,
  );
}

export function listUsers(
  context: RequestContext,
  failures: FailedLogins,
  request: Decoded<'user.list'>,
): ResultOf<'user.list'> {
  requireAdmin(context);
  const { maxFailedLogins } = context.node.policy();
  const after = request.after ?? '';
  const limit = request.limit ?? LIST_PAGE_SIZE_DEFAULT;
  const users = context.node
    .users()
    .filter((user) => user.name > after)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const page: UserInfo[] = users.slice(0, limit).map((user) => {
    const failedLogins = failures.count(user);
    return {
      name: user.name,
      admin: user.admin,
      failedLogins,
      locked: failedLogins >= maxFailedLogins,
    };
  });
  return { users: page, more: users.length > limit };
}

export function getPolicy(context: RequestContext): ResultOf<'policy.get'> {
  const { minPasswordLength, maxFailedLogins, keyExportAllowed, sessionTimeoutSeconds } =
    context.node.policy();
  return { minPasswordLength, maxFailedLogins, keyExportAllowed, sessionTimeoutSeconds };
}

export async function setPolicy(
  context: RequestContext,
  request: Decoded<'policy.set'>,
): Promise<ResultOf<'policy.set'>> {
  requireAdmin(context);
  const { node } = context;
  const { minPasswordLength, maxFailedLogins, keyExportAllowed, sessionTimeoutSeconds } = request;
  const record = node.encode({
    kind: 'policy',
    name: 'pool',
    minPasswordLength,
    maxFailedLogins,
    keyExportAllowed,
    sessionTimeoutSeconds,
  });
  const op = node.hasPolicyRecord() ? 'replace' : 'insert';
  return node.submit(
    request.requestId,
    'GLOBAL_SECURITY_POLICY',
    [{ op, record }],
    context.user.name,
    'pool',
  );
}
