// Every return code a user can meet: number, name, meaning, what to do.
// docs/RETURN_CODES.md is checked against this table by test/return-codes.test.ts.
// DINAMO's numbers are reused where one exists; 38xxx are hsmpool's own.

export interface ReturnCode {
  readonly code: number;
  readonly name: string;
  readonly meaning: string;
  readonly action: string;
}

const table = [
  { code: 0, name: 'OK', meaning: 'Success.', action: 'Nothing.' },
  // Server side (DINAMO numbering).
  { code: 5002, name: 'ACCESS_DENIED', meaning: 'The user may not use or change this object.', action: 'Use an object you own, or have the owner grant an ACL.' },
  { code: 5004, name: 'CANNOT_OPEN_OBJ', meaning: 'No such user, object or record.', action: 'Check the name (names are case-sensitive).' },
  { code: 5022, name: 'OBJ_ALREADY_EXISTS', meaning: 'A user or object with that name already exists.', action: 'Pick another name, or remove the existing one first.' },
  { code: 5023, name: 'INVALID_OBJ_NAME', meaning: 'The name is empty, longer than 32 bytes or has a character outside [A-Za-z0-9_.@-].', action: 'Use 1 to 32 characters from that set.' },
  // Record codec.
  { code: 38101, name: 'RECORD_TRUNCATED', meaning: 'A record ends before its declared fields.', action: 'The bytes are incomplete; resend or re-read them.' },
  { code: 38102, name: 'RECORD_OVERSIZE', meaning: 'A record is longer than RECORD_SIZE_MAX (8192 bytes) or than the space given.', action: 'Shorten the record (fewer ACL entries, smaller key).' },
  { code: 38103, name: 'RECORD_NON_CANONICAL', meaning: 'A record has trailing bytes, reserved bits set, or an unsorted or duplicate ACL.', action: 'Encode it with the canonical encoder.' },
  { code: 38104, name: 'RECORD_UNKNOWN_VERSION', meaning: 'A record has a format version this build does not know.', action: 'Upgrade the appliance that reads it.' },
  { code: 38105, name: 'RECORD_UNKNOWN_KIND', meaning: 'A record is neither a user, an object nor the pool policy.', action: 'The bytes are not a key-store record.' },
  { code: 38106, name: 'RECORD_BAD_NAME', meaning: 'A record name, owner or ACL name is empty, too long or has a forbidden character.', action: 'Use 1 to 32 characters from [A-Za-z0-9_.@-].' },
  { code: 38107, name: 'RECORD_BAD_FIELD', meaning: 'A record field is out of range (unknown key type, key size not matching its type, bad KDF parameters).', action: 'Fix the field; docs/FORMATS.md lists the ranges.' },
  // Key store.
  { code: 38201, name: 'STORE_FULL', meaning: 'The key store holds STORE_RECORDS_MAX (2,097,152) records.', action: 'Remove records before adding more.' },
  { code: 38202, name: 'STORE_NO_KEY', meaning: 'The core was used before its Sync-Point key was set.', action: 'Open the appliance with its SVMK first.' },
  { code: 38203, name: 'BATCH_MALFORMED', meaning: 'An operation batch is badly framed; nothing was applied.', action: 'A bug in the sender; report it with the batch bytes.' },
  { code: 38204, name: 'BATCH_TOO_LARGE', meaning: 'An operation batch is longer than BATCH_SIZE_MAX (1 MiB).', action: 'Split the work into smaller transactions.' },
  { code: 38205, name: 'STORE_BUSY_SNAPSHOT', meaning: 'The store is exporting a snapshot.', action: 'Retry when the export ends.' },
  { code: 38206, name: 'OBJECT_TEMPORARY', meaning: 'A temporary object cannot be replicated or stored in the pool.', action: 'Temporary keys live only in their session.' },
  { code: 38207, name: 'STORE_NOT_EMPTY', meaning: 'The operation needs an empty key store (setting the key, importing a snapshot).', action: 'Clear the store first (live-sync and restore do it).' },
  { code: 38208, name: 'SYNC_POINT_MISMATCH', meaning: 'The Sync-Point recomputed from scratch differs from the incremental one: the store is corrupt.', action: 'Re-sync this appliance from the pool (live-sync) and report it.' },
  // Snapshots.
  { code: 38401, name: 'SNAPSHOT_BAD_HEADER', meaning: 'A snapshot header has a wrong magic, version or reserved field.', action: 'The file or stream is not an hsmpool snapshot of this version.' },
  { code: 38402, name: 'SNAPSHOT_BAD_FRAME', meaning: 'A snapshot chunk holds a partial or oversize frame.', action: 'The stream was cut or corrupted; start the transfer again.' },
  { code: 38403, name: 'SNAPSHOT_OUT_OF_ORDER', meaning: 'Snapshot records are not in strictly ascending (kind, name) order.', action: 'The snapshot was not made by hsmpool or was tampered with.' },
  { code: 38404, name: 'SNAPSHOT_MISMATCH', meaning: 'The imported records do not give the count, SP and SPVV the header promised (or the pool key differs).', action: 'The snapshot is corrupt or from another pool; take a new one.' },
  { code: 38405, name: 'SNAPSHOT_STATE', meaning: 'A snapshot call came out of order (no export or import in progress, or one already running).', action: 'A bug in the caller; finish or abort the current snapshot.' },
] as const satisfies readonly ReturnCode[];

export type ReturnCodeName = (typeof table)[number]['name'];

export const RETURN_CODES: readonly ReturnCode[] = table;

const byNumber = new Map<number, ReturnCode>(table.map((entry) => [entry.code, entry]));
const byName = new Map<string, ReturnCode>(table.map((entry) => [entry.name, entry]));

/** The numeric code of a name: `code('CANNOT_OPEN_OBJ') === 5004`. */
export function code(name: ReturnCodeName): number {
  return byName.get(name)!.code;
}

export function describe(codeNumber: number): ReturnCode {
  return byNumber.get(codeNumber) ?? { code: codeNumber, name: 'UNKNOWN', meaning: 'Undocumented code.', action: 'Report it.' };
}

/** An error carrying a documented return code. */
export class HsmError extends Error {
  readonly code: number;
  readonly codeName: string;
  constructor(codeNumber: number, detail?: string) {
    const entry = describe(codeNumber);
    super(`${entry.name} (${codeNumber}): ${detail ?? entry.meaning}`);
    this.name = 'HsmError';
    this.code = codeNumber;
    this.codeName = entry.name;
  }
}
