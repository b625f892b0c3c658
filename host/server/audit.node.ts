// The audit log of security-relevant actions (Node only): one JSON line per action in
// DATA/audit.log — who, from which address, when (wall clock), what, on which key or user, the
// return code — hash-chained: each entry's `hash` is SHA-256 over the previous entry's hash and
// this entry's fields, so editing, removing or reordering any line breaks the chain from there
// on (`verifyChain`). Never a secret: entries are built from names and codes only (a password,
// key material, a signature or a plaintext never reaches this module). Not rotated: rotating
// would cut the chain; an operator archives the file with the node stopped.
//
// Audited: logins (ok, failed, locked), user create/remove/password change or reset/unlock,
// key generate/import/remove/grant/export, policy changes, and from the consoles node-down,
// remove-node, live-sync, backup, nodes add/remove; node-down as the pool logged it; restore.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestEvent } from './sessions.ts';
import { CODE } from '../core/codes.ts';

const encoder = new TextEncoder();

export const auditPath = (dir: string): string => join(dir, 'audit.log');
/** Entries `audit` returns at most. */
export const AUDIT_READ_MAX = 10_000;
const GENESIS = '0'.repeat(64);

export interface AuditEntry {
  readonly seq: number;
  readonly time: string;
  readonly actor: string;
  readonly from: string;
  readonly action: string;
  readonly target?: string;
  readonly code: number;
  readonly detail?: string;
  readonly prev: string;
  readonly hash: string;
}

export type AuditFields = Omit<AuditEntry, 'seq' | 'time' | 'prev' | 'hash'>;

function digest(entry: Omit<AuditEntry, 'hash'>): string {
  const canonical = JSON.stringify([
    entry.seq,
    entry.time,
    entry.actor,
    entry.from,
    entry.action,
    entry.target ?? null,
    entry.code,
    entry.detail ?? null,
    entry.prev,
  ]);
  return createHash('sha256').update(entry.prev).update(canonical).digest('hex');
}

/** Checks every entry's hash and link; `brokenAt` is the first line that does not verify. */
export function verifyChain(
  entries: readonly AuditEntry[],
  from: string = GENESIS,
): { ok: boolean; count: number; brokenAt?: number } {
  let prev = from;
  for (let i = 0; i < entries.length; i++) {
    const { hash, ...rest } = entries[i];
    if (rest.prev !== prev || digest(rest) !== hash)
      return { ok: false, count: entries.length, brokenAt: i + 1 };
    prev = hash;
  }
  return { ok: true, count: entries.length };
}

export function readAudit(path: string): AuditEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as AuditEntry);
}

export class AuditLog {
  private seq: number;
  private prev: string;
  /** Open from the first entry on: opening and closing the file for every entry cost the
   * node's thread about 18 µs per audited request (a key generated, a user created). */
  private fd: number | undefined;

  constructor(
    readonly path: string,
    private readonly now: () => number = Date.now,
  ) {
    // Continue the chain from the last line (a torn last line, from a crash mid-append, is
    // dropped from the chain's view: the next entry links to the last whole one).
    const entries = safeRead(path);
    const last = entries[entries.length - 1];
    this.seq = last?.seq ?? 0;
    this.prev = last?.hash ?? GENESIS;
  }

  /** Appends one entry, synchronously (an audited action is logged before it is answered). */
  append(fields: AuditFields): AuditEntry {
    const body = {
      seq: this.seq + 1,
      time: new Date(this.now()).toISOString(),
      ...fields,
      prev: this.prev,
    };
    const entry: AuditEntry = { ...body, hash: digest(body) };
    this.write(JSON.stringify(entry) + '\n');
    this.seq = entry.seq;
    this.prev = entry.hash;
    return entry;
  }

  private write(line: string): void {
    this.fd ??= openSync(this.path, 'a', 0o600);
    const bytes = encoder.encode(line);
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The last `n` entries and whether the whole file verifies. */
  tail(n: number): { entries: AuditEntry[]; chain: ReturnType<typeof verifyChain> } {
    const entries = readAudit(this.path);
    return {
      entries: entries.slice(-Math.min(Math.max(n, 1), AUDIT_READ_MAX)),
      chain: verifyChain(entries),
    };
  }

  /** The audit entry of a client or console request, or nothing when it is not audited. */
  readonly request = (event: RequestEvent): void => {
    const fields = auditFields(event);
    if (fields) this.append(fields);
  };
}

function safeRead(path: string): AuditEntry[] {
  if (!existsSync(path)) return [];
  const entries: AuditEntry[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      entries.push(JSON.parse(line) as AuditEntry);
    } catch {
      break;
    }
  }
  return entries;
}

const AUDITED_REQUESTS: Record<string, string> = {
  'user.create': 'user.create',
  'user.delete': 'user.remove',
  'user.unlock': 'user.unlock',
  'key.generate': 'key.generate',
  'key.import': 'key.import',
  'key.remove': 'key.remove',
  'key.grant': 'key.grant',
  'key.export': 'key.export',
  'policy.set': 'policy.set',
};
const AUDITED_COMMANDS = new Set(['node-down', 'remove-node', 'live-sync', 'nodes', 'backup']);

export function auditFields(event: RequestEvent): AuditFields | undefined {
  const base = { actor: event.user ?? '-', from: event.from, code: event.code };
  if (event.type === 'login.finish') {
    const action =
      event.code === 0
        ? 'login'
        : event.loginResult === 'locked' || event.code === CODE.USER_LOCKED
          ? 'login.locked'
          : 'login.failed';
    return { ...base, action };
  }
  if (event.type === 'user.password') {
    const own = event.target === undefined || event.target === event.user;
    return { ...base, action: own ? 'user.password' : 'user.password-reset', target: event.target };
  }
  const action = AUDITED_REQUESTS[event.type];
  if (action)
    return {
      ...base,
      action,
      target: event.target,
      detail: event.grantee ? `grantee ${event.grantee}` : undefined,
    };
  if (event.type === 'console' && event.command) {
    const [word, ...args] = event.command.split(/\s+/);
    if (!AUDITED_COMMANDS.has(word)) return undefined;
    if (word === 'nodes' && args.length === 0) return undefined; // a listing
    if (word === 'backup' && args.length > 0) return undefined; // fetching a piece
    return { ...base, action: word, detail: event.command };
  }
  return undefined;
}
