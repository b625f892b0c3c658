// Return codes the core can produce. Numbers are stable and documented in
// docs/RETURN_CODES.md; the host mirrors them in host/core/codes.ts (a test checks).
// DINAMO's numbers are reused where one exists; 38xxx are hsmpool's own.

export const OK: i32 = 0;

// Key-store semantics (DINAMO server codes).
export const ACCESS_DENIED: i32 = 5002;
export const CANNOT_OPEN_OBJ: i32 = 5004; // no such record
export const OBJ_ALREADY_EXISTS: i32 = 5022;
export const INVALID_OBJ_NAME: i32 = 5023;

// Record codec.
export const RECORD_TRUNCATED: i32 = 38101;
export const RECORD_OVERSIZE: i32 = 38102;
export const RECORD_NON_CANONICAL: i32 = 38103;
export const RECORD_UNKNOWN_VERSION: i32 = 38104;
export const RECORD_UNKNOWN_KIND: i32 = 38105;
export const RECORD_BAD_NAME: i32 = 38106;
export const RECORD_BAD_FIELD: i32 = 38107;

// Key store.
export const STORE_FULL: i32 = 38201;
export const STORE_NO_KEY: i32 = 38202;
export const BATCH_MALFORMED: i32 = 38203;
export const BATCH_TOO_LARGE: i32 = 38204;
export const STORE_BUSY_SNAPSHOT: i32 = 38205;
export const OBJECT_TEMPORARY: i32 = 38206;

// Snapshots.
export const SNAPSHOT_BAD_HEADER: i32 = 38401;
export const SNAPSHOT_BAD_FRAME: i32 = 38402;
export const SNAPSHOT_OUT_OF_ORDER: i32 = 38403;
export const SNAPSHOT_MISMATCH: i32 = 38404;
export const SNAPSHOT_STATE: i32 = 38405;
export const STORE_NOT_EMPTY: i32 = 38207;
export const SYNC_POINT_MISMATCH: i32 = 38208;

// Transaction log (assembly/txlog*.ts). A scan refuses corruption before the tail with
// CANNOT_LOAD_LOG (DINAMO's number) and names the entry's own code next to it.
export const CANNOT_LOAD_LOG: i32 = 37027;
export const LOG_TRUNCATED: i32 = 38301;
export const LOG_BAD_MAGIC: i32 = 38302;
export const LOG_UNKNOWN_VERSION: i32 = 38303;
export const LOG_HEADER_CHECKSUM: i32 = 38304;
export const LOG_BODY_CHECKSUM: i32 = 38305;
export const LOG_BROKEN_CHAIN: i32 = 38306;
export const LOG_BAD_TYPE: i32 = 38307;
export const LOG_OVERSIZE: i32 = 38308;
export const LOG_RESERVED_NOT_ZERO: i32 = 38309;
export const LOG_WRONG_POOL: i32 = 38310;
export const LOG_MALFORMED_BODY: i32 = 38311;
export const LOG_REPLAY_MISMATCH: i32 = 38312;
export const LOG_NO_BASE: i32 = 38313;
export const STORE_CONFLICT: i32 = 38209;
