// Every limit of the core, named. The host mirrors these in host/core/limits.ts
// (a test checks the two agree).

/** Longest encoded key-store record, header included. */
export const RECORD_SIZE_MAX: u32 = 8192;
/** Longest user, object or owner name, in bytes (DINAMO: 32 characters). */
export const NAME_LENGTH_MAX: u32 = 32;
/** ACL entries on one object. */
export const ACL_ENTRIES_MAX: u32 = 16;
/** Longest wrapped key material (nonce, ciphertext and tag) in an object record. */
export const WRAPPED_KEY_SIZE_MAX: u32 = 4096;
/** Salt length bounds for a user's password verifier. */
export const SALT_SIZE_MIN: u32 = 16;
export const SALT_SIZE_MAX: u32 = 64;
/** Records one key store holds. */
export const STORE_RECORDS_MAX: u32 = 1 << 21;
/** Writes in one batch (one distributed transaction with group commit). */
export const BATCH_WRITES_MAX: u32 = 256;
/** Operations in one write. */
export const WRITE_OPS_MAX: u32 = 16;
/** Longest operation batch in bytes. */
export const BATCH_SIZE_MAX: u32 = 1 << 20;
/** The host<->core exchange buffer: snapshot chunks, batches, log entries pass through it. */
export const IO_BUFFER_SIZE: u32 = 2 << 20;
/** Size of the result area the core writes small results into. */
export const RESULT_AREA_SIZE: u32 = 4096;
/** Length of the Sync-Point key the host derives from the SVMK. */
export const SP_KEY_SIZE: u32 = 32;

// ---- Transaction log (assembly/txlog*.ts) ----
/** Nodes in one pool: participants of a transaction, entries of a node list (DINAMO: 16). */
export const NODES_MAX: u32 = 16;
/** Longest node address (printable ASCII, e.g. "10.0.0.7:4433") in a log entry. */
export const NODE_ADDRESS_LENGTH_MAX: u32 = 64;
/** Longest snapshot name a CHECKPOINT entry carries. */
export const SNAPSHOT_NAME_LENGTH_MAX: u32 = 64;
/** Longest log entry, header included: the largest batch plus 64 KiB for the PREPARE fields. */
export const LOG_ENTRY_SIZE_MAX: u32 = (1 << 20) + (64 << 10);
/** Entries one scan call reports before it returns so the host can read them. */
export const LOG_SCAN_RESULTS_MAX: u32 = 4096;
