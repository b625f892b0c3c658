// The SDK's entry point: what an application imports (docs/CLIENT.md).

export { HsmError, writeOutcome, type WriteOutcome } from '../core/codes.ts';
export type { KeyType } from '../core/records.ts';
export type { KeyInfo, Policy, UserInfo } from '../wire/messages.ts';
export type { KdfLimits } from '../wire/scram.ts';
export { HsmClient } from './client.ts';
export {
  BUSY_RETRIES_LIMIT,
  CLIENT_NODES_MAX,
  DEFAULT_RETRY,
  WriteOutcomeUnknownError,
} from './options.ts';
export type {
  HsmClientOptions,
  KeyOptions,
  NodeStatus,
  RetryPolicy,
  WriteOptions,
  WriteOutcomeReport,
} from './options.ts';
export type { ConnectionFactory, FrameConnection, FrameListener } from './connection.ts';
