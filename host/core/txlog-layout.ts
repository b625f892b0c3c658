// Byte layout of the core's log entries and of its scan state and results: mirrors of
// assembly/txlog.ts and assembly/txlog-scan.ts, one copy for the host wrapper (txlog.ts) and
// the fuzz replay (scripts/fuzz/targets.ts). test/core/layout.test.ts checks every value
// against the assembly source.

// ---- Entry header (assembly/txlog.ts) ----
export const LOG_HEADER_SIZE = 112;
export const LOG_HEADER_CHECKED_SIZE = 96;
export const H_VERSION = 4;
export const H_TYPE = 6;
export const H_BODY_LENGTH = 8;
export const H_POOL = 16;
export const H_EPOCH = 24;
export const H_SEQUENCE = 32;
export const H_TRANSACTION = 40;
export const H_BODY_CHECKSUM = 48;
export const H_PARENT = 64;
export const H_HEADER_CHECKSUM = 96;

// ---- Scan state block (assembly/txlog-scan.ts) ----
export const S_CONSUMED = 0;
export const S_RESULT_COUNT = 4;
export const S_VALID_LENGTH = 8;
export const S_ENTRIES = 16;
export const S_NEXT = 24;
export const S_LAST_SEQUENCE = 32;
export const S_LAST_EPOCH = 40;
export const S_PARENT = 48;
export const S_POOL = 64;
export const S_MODE = 76;
export const S_DAMAGE_OFFSET = 80;
export const S_DAMAGE_CODE = 88;
export const S_ENTRY_LENGTH = 92;
export const S_WITNESS_OFFSET = 96;
export const S_ENTRY_CHECKSUM = 104;

// ---- One scan result per entry ----
export const LOG_RESULT_SIZE = 40;
export const E_OFFSET = 0;
export const E_SEQUENCE = 8;
export const E_TRANSACTION = 16;
export const E_EPOCH = 24;
export const E_LENGTH = 32;
export const E_TYPE = 36;

// ---- Scan flags and the "give me more" answer ----
export const SCAN_MORE = 1;
export const SCAN_CHAIN_KNOWN = 1;
export const SCAN_ANY_POOL = 2;
