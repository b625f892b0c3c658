// This build's version and operating mode, shown by `info` and `hsmpool status` (the manual asks
// for the same firmware version and mode across a pool). Browser-safe.

/** The hsmpool release (package.json's version; test/appliance/status.test.ts checks they agree). */
export const HSMPOOL_VERSION = '0.1.0';
/** The emulated appliance's operating mode (DINAMO: normal or restricted/FIPS). */
export const OPERATING_MODE = 'normal';
