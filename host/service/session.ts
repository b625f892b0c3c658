// One client's session on one node: where its login stands, its temporary keys (they live
// here only and are never replicated), and when it was last active (the policy's idle timeout).

import type { KeyBytes } from '../wire/crypto-engine.ts';
import type { KeyInfo } from '../wire/messages.ts';
import type { ScramServer } from '../wire/scram.ts';
import type { SealedSession, SessionChannel } from '../wire/session-channel.ts';

/** Temporary keys one session may hold. */
export const TEMPORARY_KEYS_MAX = 64;

export interface TemporaryKey {
  readonly info: KeyInfo;
  readonly key: KeyBytes;
}

export type LoginState =
  | { readonly step: 'anonymous' }
  /** After login.start. `known` is false for an unknown user: the exchange runs on made-up credentials and always fails. */
  | { readonly step: 'challenged'; readonly server: ScramServer; readonly known: boolean }
  | { readonly step: 'authenticated'; readonly user: string; readonly sessionKey: KeyBytes };

export class Session implements SealedSession {
  login: LoginState = { step: 'anonymous' };
  /** The sealed channel (session-channel.ts); it outlives logout and expiry, as the connection does. */
  channel: SessionChannel | undefined;
  channelNext: SessionChannel | undefined;
  lastActivityMs: number;
  /** The last login.finish's result on this session: a locked account's answer is the same
   * code as a wrong password's (so the lock confirms nothing), the audit log still tells them apart. */
  lastLoginResult: 'ok' | 'failed' | 'locked' | undefined;
  readonly temporaryKeys = new Map<string, TemporaryKey>();

  constructor(
    readonly id: number,
    nowMs: number,
    /** A console session (the operator's): served even by a fenced or diverged node. */
    readonly console = false,
  ) {
    this.lastActivityMs = nowMs;
  }

  /** The logged-in user, if any. */
  get user(): string | undefined {
    return this.login.step === 'authenticated' ? this.login.user : undefined;
  }

  /** Back to anonymous: logout, expiry, a new login. Temporary keys die with the login. */
  reset(): void {
    this.login = { step: 'anonymous' };
    this.temporaryKeys.clear();
  }
}
