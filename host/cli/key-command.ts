// `hsmpool key ...` and `hsmpool user ...`: the SDK's operations from the command line (like
// cloudhsm-cli or lunacm), so keys, users and load can be put into a pool without TypeScript.
// Every command logs in with the SDK (HsmClient over WebSocket) to the --host list (commas
// between, load-balanced), runs one operation and prints text, or one JSON line with --json.
//
// Data: --in FILE (raw bytes; `-` for standard input) or --text STRING; results go to
// --out FILE as raw bytes (`-`: raw bytes to standard output), else as base64 on one line.
// The login password comes from --password-file or HSMPOOL_PASSWORD (standard input carries
// data here); a new user's password from --new-password-file or HSMPOOL_NEW_PASSWORD.
//
// Exit codes: 0 done (for verify: the signature or MAC is valid); 1 the pool refused (the
// return code is printed: `NAME (code): message`), or verify found it invalid; 2 usage; 4 no
// node could be reached.

import { readFileSync, writeFileSync } from 'node:fs';
import { HsmClient } from '../client/package.node.ts';
import { CODE, HsmError, describe } from '../core/codes.ts';
import { KEY_TYPES, type KeyType } from '../core/records.ts';
import type { KeyInfo, UserInfo } from '../wire/messages.ts';
import { cliConnections } from './connections.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface KeyCommandOptions {
  readonly group: 'key' | 'user';
  readonly action: string;
  readonly args: readonly string[];
  readonly hosts: readonly string[];
  readonly user: string;
  readonly passwordFile?: string;
  readonly json: boolean;
  readonly type?: string;
  readonly in?: string;
  readonly text?: string;
  readonly out?: string;
  readonly aad?: string;
  readonly signature?: string;
  readonly owner?: string;
  readonly exportable: boolean;
  readonly admin: boolean;
  readonly use: boolean;
  readonly export: boolean;
  readonly remove: boolean;
  readonly newPasswordFile?: string;
  /** Where the output goes (tests capture it); default standard output. */
  readonly write?: (bytes: Uint8Array | string) => void;
  /** Standard input's bytes (tests supply them); default the process's. */
  readonly stdin?: () => Uint8Array;
}

export const KEY_ACTIONS = [
  'generate',
  'import',
  'list',
  'info',
  'remove',
  'grant',
  'export',
  'public',
  'sign',
  'verify',
  'encrypt',
  'decrypt',
  'mac',
  'mac-verify',
] as const;
export const USER_ACTIONS = ['create', 'list', 'password', 'unlock', 'remove'] as const;
/** Pages `key list` and `user list` follow at most (1,000 answers a page: 100,000 entries). */
export const LIST_PAGES_MAX = 100;

const usage = (message: string): never => {
  throw new CliError(EXIT.USAGE, message);
};

function loginPassword(options: KeyCommandOptions): string {
  if (options.passwordFile) return readFileSync(options.passwordFile, 'utf8').split('\n')[0];
  if (process.env.HSMPOOL_PASSWORD) return process.env.HSMPOOL_PASSWORD;
  return usage('no password: use --password-file or HSMPOOL_PASSWORD');
}

function newPassword(options: KeyCommandOptions): string {
  if (options.newPasswordFile) return readFileSync(options.newPasswordFile, 'utf8').split('\n')[0];
  if (process.env.HSMPOOL_NEW_PASSWORD) return process.env.HSMPOOL_NEW_PASSWORD;
  return usage('no new password: use --new-password-file or HSMPOOL_NEW_PASSWORD');
}

function input(options: KeyCommandOptions, what = 'data'): Uint8Array {
  if (options.text !== undefined) return new TextEncoder().encode(options.text);
  if (options.in === undefined) return usage(`${what}: give --in FILE, --in - or --text STRING`);
  if (options.in === '-') return options.stdin ? options.stdin() : new Uint8Array(readFileSync(0));
  return new Uint8Array(readFileSync(options.in));
}

function bytesArg(value: string | undefined, name: string): Uint8Array {
  if (value === undefined) return usage(`${name} FILE is required`);
  return new Uint8Array(readFileSync(value));
}

function keyType(value: string | undefined): KeyType {
  if (!value || !(KEY_TYPES as readonly string[]).includes(value))
    return usage(`--type: one of ${KEY_TYPES.join(', ')}`);
  return value as KeyType;
}

function one(args: readonly string[], names: string[]): string[] {
  if (args.length !== names.length) usage(`expected ${names.join(' ')}`);
  return [...args];
}

export async function runKeyCommand(options: KeyCommandOptions): Promise<number> {
  const actions: readonly string[] = options.group === 'key' ? KEY_ACTIONS : USER_ACTIONS;
  if (!actions.includes(options.action))
    usage(`${options.group}: one of ${actions.join(', ')} (hsmpool ${options.group} --help)`);
  const write = options.write ?? ((bytes) => process.stdout.write(bytes));
  const say = (data: Record<string, unknown>, text: string): void => {
    write(
      options.json
        ? JSON.stringify({ event: `${options.group}.${options.action}`, ...data }) + '\n'
        : text + '\n',
    );
  };
  /** Binary results: --out FILE raw, --out - raw to stdout, else base64 (a JSON field). */
  const emit = (field: string, bytes: Uint8Array, extra: Record<string, unknown> = {}): void => {
    const base64 = Buffer.from(bytes).toString('base64');
    if (options.out === '-') return write(bytes);
    if (options.out !== undefined) {
      writeFileSync(options.out, bytes, { mode: 0o600 });
      return say(
        { ...extra, out: options.out, bytes: bytes.length },
        `${bytes.length} bytes written to ${options.out}`,
      );
    }
    say({ ...extra, [field]: base64 }, base64);
  };
  // Check the command line before connecting.
  const password = loginPassword(options);
  let client: HsmClient;
  try {
    client = await HsmClient.connect({
      nodes: options.hosts,
      user: options.user,
      password,
      connections: cliConnections(),
    });
  } catch (error) {
    throw failure(error);
  }
  try {
    return options.group === 'key'
      ? await keyAction(client, options, say, emit)
      : await userAction(client, options, say);
  } catch (error) {
    throw failure(error);
  } finally {
    client.close();
  }
}

/** An SDK error as a CLI error: the return code's name and number, exit 4 for the network. */
function failure(error: unknown): unknown {
  if (!(error instanceof HsmError)) return error;
  const message = `${describe(error.code).name} (${error.code}): ${error.message}`;
  return new CliError(error.code < 0 ? EXIT.UNREACHABLE : EXIT.FAILED, message);
}

type Say = (data: Record<string, unknown>, text: string) => void;
type Emit = (field: string, bytes: Uint8Array, extra?: Record<string, unknown>) => void;

const keyLine = (k: KeyInfo): string =>
  `${k.name}  ${k.keyType}  owner ${k.owner}${k.exportable ? '  exportable' : ''}${
    k.acl.length
      ? `  acl ${k.acl.map((a) => `${a.user}:${[a.use && 'use', a.export && 'export', a.remove && 'remove'].filter(Boolean).join('+')}`).join(' ')}`
      : ''
  }`;

async function allKeys(client: HsmClient, owner?: string): Promise<KeyInfo[]> {
  const keys: KeyInfo[] = [];
  let after: string | undefined;
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    const listed = await client.listKeys({ owner, after });
    keys.push(...listed.keys);
    if (!listed.more || listed.keys.length === 0) return keys;
    after = listed.keys[listed.keys.length - 1].name;
  }
  return keys;
}

interface KeyCall {
  readonly client: HsmClient;
  readonly options: KeyCommandOptions;
  readonly say: Say;
  readonly emit: Emit;
}

async function keyAction(
  client: HsmClient,
  options: KeyCommandOptions,
  say: Say,
  emit: Emit,
): Promise<number> {
  if (options.action === 'list') {
    one(options.args, []);
    const keys = await allKeys(client, options.owner);
    say({ keys }, keys.length ? keys.map(keyLine).join('\n') : 'no keys');
    return EXIT.OK;
  }
  if (options.action === 'grant') {
    const [name, user] = one(options.args, ['NAME', 'USER']);
    return grant(client, options, say, name, user);
  }
  const action = Object.hasOwn(KEY_ACTIONS_ON_NAME, options.action)
    ? KEY_ACTIONS_ON_NAME[options.action]
    : undefined;
  if (!action) return usage(`key: unknown action ${options.action}`);
  const [name] = one(options.args, ['NAME']);
  return (await action({ client, options, say, emit }, name)) ?? EXIT.OK;
}

async function grant(
  client: HsmClient,
  options: KeyCommandOptions,
  say: Say,
  name: string,
  user: string,
): Promise<number> {
  const rights = { use: options.use, export: options.export, remove: options.remove };
  await client.grant(name, user, rights);
  const granted = Object.entries(rights)
    .filter(([, on]) => on)
    .map(([r]) => r);
  say(
    { name, user, ...rights },
    granted.length
      ? `granted ${granted.join('+')} on ${name} to ${user}`
      : `revoked ${user}'s rights on ${name}`,
  );
  return EXIT.OK;
}

const aadOf = (options: KeyCommandOptions): Uint8Array | undefined =>
  options.aad === undefined ? undefined : bytesArg(options.aad, '--aad');

/** verify and mac-verify: says valid or INVALID, and fails the command on INVALID. */
function reportValid({ say }: KeyCall, name: string, valid: boolean): number {
  say({ name, valid }, valid ? 'valid' : 'INVALID');
  return valid ? EXIT.OK : EXIT.FAILED;
}

/** The key actions on one NAME; nothing returned means EXIT.OK. */
const KEY_ACTIONS_ON_NAME: Record<string, (call: KeyCall, name: string) => Promise<number | void>> =
  {
    generate: async ({ client, options, say }, name) => {
      const key = await client.generateKey(name, keyType(options.type), {
        exportable: options.exportable,
      });
      say({ key }, `generated ${keyLine(key)}`);
    },
    import: async ({ client, options, say }, name) => {
      const type = keyType(options.type);
      const key = await client.importKey(name, type, input(options, 'key material'), {
        exportable: options.exportable,
      });
      say({ key }, `imported ${keyLine(key)}`);
    },
    info: async ({ client, options, say }, name) => {
      const key = (await allKeys(client, options.owner)).find((k) => k.name === name);
      if (!key)
        throw new HsmError(
          CODE.CANNOT_OPEN_OBJ,
          `no key ${JSON.stringify(name)} visible to ${options.user}`,
        );
      say({ key }, keyLine(key));
    },
    remove: async ({ client, say }, name) => {
      await client.removeKey(name);
      say({ removed: name }, `removed ${name}`);
    },
    export: async ({ client, emit }, name) =>
      emit('material', await client.exportKey(name), { name }),
    public: async ({ client, emit }, name) =>
      emit('publicKey', await client.publicKey(name), { name }),
    sign: async ({ client, options, emit }, name) =>
      emit('signature', await client.sign(name, input(options)), { name }),
    verify: async (call, name) => {
      const message = input(call.options);
      const signature = bytesArg(call.options.signature, '--signature');
      return reportValid(call, name, await call.client.verify(name, message, signature));
    },
    encrypt: async ({ client, options, emit }, name) => {
      const aad = aadOf(options);
      emit('ciphertext', await client.encrypt(name, input(options), aad), { name });
    },
    decrypt: async ({ client, options, emit }, name) => {
      const aad = aadOf(options);
      emit('plaintext', await client.decrypt(name, input(options), aad), { name });
    },
    mac: async ({ client, options, emit }, name) =>
      emit('mac', await client.mac(name, input(options)), { name }),
    'mac-verify': async (call, name) => {
      const message = input(call.options);
      const mac = bytesArg(call.options.signature, '--signature');
      return reportValid(call, name, await call.client.verifyMac(name, message, mac));
    },
  };

const userLine = (u: UserInfo): string =>
  `${u.name}${u.admin ? '  admin' : ''}  failed logins ${u.failedLogins}${u.locked ? '  LOCKED' : ''}`;

async function userAction(
  client: HsmClient,
  options: KeyCommandOptions,
  say: Say,
): Promise<number> {
  const args = options.args;
  switch (options.action) {
    case 'create': {
      const [name] = one(args, ['NAME']);
      await client.createUser(name, newPassword(options), { admin: options.admin });
      say(
        { created: name, admin: options.admin },
        `created ${options.admin ? 'administrator' : 'user'} ${name}`,
      );
      return EXIT.OK;
    }
    case 'list': {
      one(args, []);
      const users: UserInfo[] = [];
      let after: string | undefined;
      for (let page = 0; page < LIST_PAGES_MAX; page++) {
        const listed = await client.listUsers({ after });
        users.push(...listed.users);
        if (!listed.more || listed.users.length === 0) break;
        after = listed.users[listed.users.length - 1].name;
      }
      say({ users }, users.map(userLine).join('\n'));
      return EXIT.OK;
    }
    case 'password': {
      if (args.length > 1) usage('user password [NAME]');
      const name = args[0] ?? options.user;
      await client.changePassword(newPassword(options), name);
      say({ user: name }, `password of ${name} changed`);
      return EXIT.OK;
    }
    case 'unlock': {
      const [name] = one(args, ['NAME']);
      await client.unlockUser(name);
      say({ unlocked: name }, `unlocked ${name}`);
      return EXIT.OK;
    }
    case 'remove': {
      const [name] = one(args, ['NAME']);
      await client.deleteUser(name);
      say({ removed: name }, `removed user ${name}`);
      return EXIT.OK;
    }
  }
  return usage(`user: unknown action ${options.action}`);
}
