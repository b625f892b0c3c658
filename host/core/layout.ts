// Mirrors of assembly/limits.ts and the result-area layout of assembly/index.ts.
// test/core/layout.test.ts reads the AssemblyScript sources and checks these agree.

export const RECORD_SIZE_MAX = 8192;
export const NAME_LENGTH_MAX = 32;
export const ACL_ENTRIES_MAX = 16;
export const WRAPPED_KEY_SIZE_MAX = 4096;
export const SALT_SIZE_MIN = 16;
export const SALT_SIZE_MAX = 64;
export const STORE_RECORDS_MAX = 1 << 21;
export const BATCH_WRITES_MAX = 256;
export const WRITE_OPS_MAX = 16;
export const BATCH_SIZE_MAX = 1 << 20;
export const IO_BUFFER_SIZE = 2 << 20;
export const RESULT_AREA_SIZE = 4096;
export const SP_KEY_SIZE = 32;

export const R_SP = 0;
export const R_SPVV = 8;
export const R_COUNT = 12;
export const R_ACC_LO = 16;
export const R_ACC_HI = 24;
export const R_HASH = 32;
export const R_VIEW = 64;
export const R_CURSOR = 192;
export const R_WRITE_RESULTS = 256;

export const KIND_USER = 1;
export const KIND_OBJECT = 2;
export const KIND_POLICY = 3;

export const OP_INSERT = 1;
export const OP_REPLACE = 2;
export const OP_DELETE = 3;
export const OP_REPLACE_IF = 4;

export const SNAPSHOT_HEADER_SIZE = 32;

// ---- Transaction log (mirrors of assembly/limits.ts) ----
export const NODES_MAX = 16;
export const NODE_ADDRESS_LENGTH_MAX = 64;
export const SNAPSHOT_NAME_LENGTH_MAX = 64;
export const LOG_ENTRY_SIZE_MAX = (1 << 20) + (64 << 10);
export const LOG_SCAN_RESULTS_MAX = 4096;
