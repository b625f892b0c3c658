// The HSM service's entry point: what a node (the appliance, the in-page pool) imports.

export type { ServiceBackend } from './backend.ts';
export { DEFAULT_POLICY, PRODUCTION_KDF } from './context.ts';
export { CryptoEngine } from '../wire/crypto-engine.ts';
export { LocalBackend, LocalReplication, createLocalPool } from './local-backend.ts';
export * from '../wire/messages.ts';
export { secureRandomBytes } from '../wire/random.ts';
export { SESSIONS_MAX, Service } from './service.ts';
export type { ServiceOptions } from './service.ts';
export type { Session } from './session.ts';
export { bootstrapPool } from './users.ts';
export type { Bootstrap, BootstrapOptions } from './users.ts';
