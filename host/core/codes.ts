// Every return code a user can meet: number, name, meaning, what to do.
// docs/RETURN_CODES.md is checked against this table by test/core/return-codes.test.ts.
// DINAMO's numbers are reused where one exists; 38xxx are hsmpool's own.

export interface ReturnCode {
  readonly code: number;
  readonly name: string;
  readonly meaning: string;
  readonly action: string;
}

const table = [
  { code: 0, name: 'OK', meaning: 'Success.', action: 'Nothing.' },
  // Replication (DINAMO numbering).
  {
    code: 36000,
    name: 'REPLICATION_BUSY',
    meaning:
      "A pending transaction (PTL) held the pool until the write's deadline (it was withdrawn from the queue then), the write queue was full, or its transactions lost BUSY_REQUEUES_MAX collisions: the write never runs from this call.",
    action: 'Retry with backoff; the replication manager resolves pending transactions by itself.',
  },
  {
    code: 36001,
    name: 'REPLICATION_D_BUSY',
    meaning:
      "One of DINAMO's other busy codes; hsmpool does not send it (its SDK retries it like 36000).",
    action: 'Retry with backoff (the SDK does).',
  },
  {
    code: 36002,
    name: 'REPLICATION_S_BUSY',
    meaning:
      "One of DINAMO's other busy codes; hsmpool does not send it (its SDK retries it like 36000).",
    action: 'Retry with backoff (the SDK does).',
  },
  {
    code: 36003,
    name: 'REPLICATION_STORAGE_LAYER_BUSY',
    meaning:
      "One of DINAMO's other busy codes; hsmpool does not send it (its SDK retries it like 36000).",
    action: 'Retry with backoff (the SDK does).',
  },
  {
    code: 36004,
    name: 'REPLICATION_SEC_LAYER_BUSY',
    meaning:
      "One of DINAMO's other busy codes; hsmpool does not send it (its SDK retries it like 36000).",
    action: 'Retry with backoff (the SDK does).',
  },
  {
    code: 36500,
    name: 'REPLICATION_PEER_NOT_SYNCED',
    meaning:
      "A member's Sync-Point differs from the coordinator's: its state diverged, so the write was refused.",
    action: 'Compare SPs in the console (replication info) and live-sync the divergent node.',
  },
  {
    code: 37017,
    name: 'INVALID_OPERATION',
    meaning:
      'The replication request does not apply here (node-down of this node or of a non-member, a message for another domain).',
    action: 'Check the node id and the console you use.',
  },
  {
    code: 37018,
    name: 'INVALID_EVENT',
    meaning:
      'A write names a replicated event type this build does not know (docs/CONSOLE.md "Replicated event types"); it was not queued.',
    action: 'Report it: the service only sends the types it defines.',
  },
  {
    code: 37029,
    name: 'CANNOT_VALIDATE_EVENT',
    meaning: 'A participant could not apply the prepared operations.',
    action: 'A bug or a corrupt message; report it with the support bundle.',
  },
  {
    code: 37030,
    name: 'TRANS_MISMATCH',
    meaning: 'A PREPARE named a coordinator, participants or epoch that do not match this node.',
    action: 'Retry; if it persists, compare the node lists in the console.',
  },
  {
    code: 37031,
    name: 'CANNOT_SYNC_POINT',
    meaning:
      'After committing, this node reached a different Sync-Point than the coordinator: it diverged.',
    action: 'Live-sync this node from the pool.',
  },
  {
    code: 37019,
    name: 'OPERATION_FAILED',
    meaning:
      'The node failed to answer a request because of an internal error; nothing was changed by the request.',
    action: 'Report it with the support bundle; the session stays usable.',
  },
  {
    code: 37028,
    name: 'CANNOT_WORK',
    meaning:
      'The appliance stopped: a write to its log failed, so it no longer speaks (fail-stop).',
    action: 'Check the disk, then restart the node; it recovers from its log.',
  },
  {
    code: 37037,
    name: 'MAX_NODE_COUNT_REACHED',
    meaning: 'The node cache or the pool is at its node limit.',
    action: 'Remove a node first.',
  },
  {
    code: 38501,
    name: 'NODE_STILL_ALIVE',
    meaning: 'Node-down refused: the node answered a probe.',
    action: 'Only declare down a node that is really gone; stop it first.',
  },
  {
    code: 38502,
    name: 'NODE_FENCED',
    meaning:
      'This node was declared down (node-down) and is no longer a member of the pool (a donor answers a joiner presenting such an id with it too).',
    action:
      'Bring it back with live-sync, which gives it a new node id; use another node meanwhile.',
  },
  {
    code: 38503,
    name: 'NODE_FENCED_NO_READS',
    meaning:
      'This node was declared down (node-down): its keys, users and passwords may be stale, so it serves no reads and no logins to clients (the console still works) until live-sync brings it back.',
    action:
      'Nothing in an application: the SDK moves the call to another node. An operator live-syncs this node (console live-sync).',
  },
  {
    code: 38504,
    name: 'NODE_DIVERGED',
    meaning:
      "This node's state diverged from the pool's (a commit gave another Sync-Point here than at its coordinator): it serves no reads, writes or logins to clients (the console still works) until live-sync brings it back.",
    action:
      'Nothing in an application: the SDK moves the call to another node. An operator live-syncs this node (console live-sync).',
  },
  {
    code: 38505,
    name: 'NODE_DOWN_NO_MAJORITY',
    meaning:
      'Node-down refused: the named node did not answer, but neither did enough of the other members for this node to reach a majority of the pool (itself included), so the named node may be alive on the other side of a partition and fencing it could split the pool. Pools of two members are exempt (DINAMO: the operator judges).',
    action:
      'Find out whether the node is really down; heal the network or issue node-down from a node that reaches most of the pool.',
  },
  // Server side (DINAMO numbering).
  {
    code: 5002,
    name: 'ACCESS_DENIED',
    meaning: 'The user may not use or change this object.',
    action: 'Use an object you own, or have the owner grant an ACL.',
  },
  {
    code: 5004,
    name: 'CANNOT_OPEN_OBJ',
    meaning: 'No such user, object or record.',
    action: 'Check the name (names are case-sensitive).',
  },
  {
    code: 5022,
    name: 'OBJ_ALREADY_EXISTS',
    meaning: 'A user or object with that name already exists.',
    action: 'Pick another name, or remove the existing one first.',
  },
  {
    code: 5023,
    name: 'INVALID_OBJ_NAME',
    meaning: 'The name is empty, longer than 32 bytes or has a character outside [A-Za-z0-9_.@-].',
    action: 'Use 1 to 32 characters from that set.',
  },
  // Record codec.
  {
    code: 38101,
    name: 'RECORD_TRUNCATED',
    meaning: 'A record ends before its declared fields.',
    action: 'The bytes are incomplete; resend or re-read them.',
  },
  {
    code: 38102,
    name: 'RECORD_OVERSIZE',
    meaning: 'A record is longer than RECORD_SIZE_MAX (8192 bytes) or than the space given.',
    action: 'Shorten the record (fewer ACL entries, smaller key).',
  },
  {
    code: 38103,
    name: 'RECORD_NON_CANONICAL',
    meaning: 'A record has trailing bytes, reserved bits set, or an unsorted or duplicate ACL.',
    action: 'Encode it with the canonical encoder.',
  },
  {
    code: 38104,
    name: 'RECORD_UNKNOWN_VERSION',
    meaning: 'A record has a format version this build does not know.',
    action: 'Upgrade the appliance that reads it.',
  },
  {
    code: 38105,
    name: 'RECORD_UNKNOWN_KIND',
    meaning: 'A record is neither a user, an object nor the pool policy.',
    action: 'The bytes are not a key-store record.',
  },
  {
    code: 38106,
    name: 'RECORD_BAD_NAME',
    meaning: 'A record name, owner or ACL name is empty, too long or has a forbidden character.',
    action: 'Use 1 to 32 characters from [A-Za-z0-9_.@-].',
  },
  {
    code: 38107,
    name: 'RECORD_BAD_FIELD',
    meaning:
      'A record field is out of range (unknown key type, key size not matching its type, bad KDF parameters).',
    action: 'Fix the field; docs/FORMATS.md lists the ranges.',
  },
  // Key store.
  {
    code: 38201,
    name: 'STORE_FULL',
    meaning: 'The key store holds STORE_RECORDS_MAX (2,097,152) records.',
    action: 'Remove records before adding more.',
  },
  {
    code: 38202,
    name: 'STORE_NO_KEY',
    meaning: 'The core was used before its Sync-Point key was set.',
    action: 'Open the appliance with its SVMK first.',
  },
  {
    code: 38203,
    name: 'BATCH_MALFORMED',
    meaning: 'An operation batch is badly framed; nothing was applied.',
    action: 'A bug in the sender; report it with the batch bytes.',
  },
  {
    code: 38204,
    name: 'BATCH_TOO_LARGE',
    meaning: 'An operation batch is longer than BATCH_SIZE_MAX (1 MiB).',
    action: 'Split the work into smaller transactions.',
  },
  {
    code: 38205,
    name: 'STORE_BUSY_SNAPSHOT',
    meaning: 'The store is exporting a snapshot.',
    action: 'Retry when the export ends.',
  },
  {
    code: 38206,
    name: 'OBJECT_TEMPORARY',
    meaning: 'A temporary object cannot be replicated or stored in the pool.',
    action: 'Temporary keys live only in their session.',
  },
  {
    code: 38207,
    name: 'STORE_NOT_EMPTY',
    meaning: 'The operation needs an empty key store (setting the key, importing a snapshot).',
    action: 'Clear the store first (live-sync and restore do it).',
  },
  {
    code: 38208,
    name: 'SYNC_POINT_MISMATCH',
    meaning:
      'The Sync-Point recomputed from scratch differs from the incremental one: the store is corrupt.',
    action: 'Re-sync this appliance from the pool (live-sync) and report it.',
  },
  {
    code: 38209,
    name: 'STORE_CONFLICT',
    meaning:
      'A conditional replace found the record changed since it was read (another write got there first); nothing was changed.',
    action: 'Read the record again and retry the change (the SDK and service do).',
  },
  // Snapshots.
  {
    code: 38401,
    name: 'SNAPSHOT_BAD_HEADER',
    meaning: 'A snapshot header has a wrong magic, version or reserved field.',
    action: 'The file or stream is not an hsmpool snapshot of this version.',
  },
  {
    code: 38402,
    name: 'SNAPSHOT_BAD_FRAME',
    meaning: 'A snapshot chunk holds a partial or oversize frame.',
    action: 'The stream was cut or corrupted; start the transfer again.',
  },
  {
    code: 38403,
    name: 'SNAPSHOT_OUT_OF_ORDER',
    meaning: 'Snapshot records are not in strictly ascending (kind, name) order.',
    action: 'The snapshot was not made by hsmpool or was tampered with.',
  },
  {
    code: 38404,
    name: 'SNAPSHOT_MISMATCH',
    meaning:
      'The imported records do not give the count, SP and SPVV the header promised (or the pool key differs).',
    action: 'The snapshot is corrupt or from another pool; take a new one.',
  },
  {
    code: 38405,
    name: 'SNAPSHOT_STATE',
    meaning:
      'A snapshot call came out of order (no export or import in progress, or one already running).',
    action: 'A bug in the caller; finish or abort the current snapshot.',
  },
  // Transaction log (assembly/txlog*.ts, docs/FORMATS.md "Transaction log").
  {
    code: 37027,
    name: 'CANNOT_LOAD_LOG',
    meaning:
      'The transaction log is damaged before its tail (a bad entry followed by valid data, or a valid entry out of place); nothing was dropped.',
    action:
      'Do not delete the log: restore this appliance by live-sync from the pool, keep the file for analysis.',
  },
  {
    code: 38301,
    name: 'LOG_TRUNCATED',
    meaning: 'A log entry ends before its header or declared body length.',
    action: 'At the end of a log this is a torn append and is cut; elsewhere re-read the bytes.',
  },
  {
    code: 38302,
    name: 'LOG_BAD_MAGIC',
    meaning: 'The bytes at an entry position do not start with the log magic "HPLG".',
    action: 'The bytes are not an hsmpool log entry (or are overwritten).',
  },
  {
    code: 38303,
    name: 'LOG_UNKNOWN_VERSION',
    meaning: 'A log entry has a format version this build does not know.',
    action: 'Open the log with the hsmpool version that wrote it.',
  },
  {
    code: 38304,
    name: 'LOG_HEADER_CHECKSUM',
    meaning: 'A log entry header does not match its checksum.',
    action: 'The entry is damaged; at the tail it is cut, before the tail the log is refused.',
  },
  {
    code: 38305,
    name: 'LOG_BODY_CHECKSUM',
    meaning: 'A log entry body does not match the checksum in its header.',
    action: 'The entry is damaged; at the tail it is cut, before the tail the log is refused.',
  },
  {
    code: 38306,
    name: 'LOG_BROKEN_CHAIN',
    meaning:
      'A log entry does not follow its predecessor (previous-entry checksum, sequence number or epoch).',
    action: 'Entries were lost, duplicated or spliced; restore by live-sync.',
  },
  {
    code: 38307,
    name: 'LOG_BAD_TYPE',
    meaning: 'A log entry has an unknown entry type.',
    action: 'Open the log with the hsmpool version that wrote it.',
  },
  {
    code: 38308,
    name: 'LOG_OVERSIZE',
    meaning: 'A log entry is longer than LOG_ENTRY_SIZE_MAX (1,114,112 bytes).',
    action: 'Split the transaction; a longer entry in a log means corruption.',
  },
  {
    code: 38309,
    name: 'LOG_RESERVED_NOT_ZERO',
    meaning: 'A reserved byte of a log entry header or body is not zero.',
    action: 'The entry was written by another format version or is corrupt.',
  },
  {
    code: 38310,
    name: 'LOG_WRONG_POOL',
    meaning: 'A log entry belongs to another pool (domain id).',
    action: 'Point the appliance at its own data directory.',
  },
  {
    code: 38311,
    name: 'LOG_MALFORMED_BODY',
    meaning:
      'A log entry body is badly framed or has a field out of range for its type (including a malformed operation batch or a zero transaction id).',
    action: 'A bug in the writer; report it with the entry bytes.',
  },
  {
    code: 38312,
    name: 'LOG_REPLAY_MISMATCH',
    meaning:
      'Replaying the log does not give what it recorded (the SP after a COMMIT, an outcome without its PREPARE, two pending PREPAREs).',
    action: 'The log or snapshot is inconsistent; restore by live-sync and report it.',
  },
  {
    code: 38313,
    name: 'LOG_NO_BASE',
    meaning:
      "No valid snapshot with the log after it covers the state (the checkpoint's snapshot is missing or corrupt and the log does not reach back to sequence 1).",
    action: 'Restore the snapshot file or live-sync this appliance from the pool.',
  },
  // Start-up: every file of a data directory is read and checked before anything is repaired
  // or opened (host/appliance/startup-check.ts); a refusal changes nothing.
  {
    code: 38314,
    name: 'META_DAMAGED',
    meaning:
      'A metadata file of the data directory (node.json, meta/node-cache, joining.json, bootstrap.json) is not valid JSON or not of the expected shape; the node did not start and nothing was changed.',
    action:
      'Restore the file from a copy (the message names it and why); a node cache may be deleted, it refills from the pool.',
  },
  {
    code: 38315,
    name: 'LOG_ROLLED_BACK',
    meaning:
      'A checkpoint snapshot is newer than anything the log reaches: the log was rolled back (replaced by an older copy) under newer snapshots; the node did not start and nothing was changed.',
    action:
      'Put back the log that goes with the snapshots, or live-sync this node from the pool (hsmpool node --join).',
  },
  {
    code: 38316,
    name: 'REQUEST_OUTCOMES_MISSING',
    meaning:
      "The request-outcomes file that goes with the log's checkpoints is missing or older than they are: retried writes could run twice; the node did not start and nothing was changed.",
    action:
      'Put back meta/request-outcomes from a copy of this directory, or live-sync this node from the pool (hsmpool node --join).',
  },
  {
    code: 38320,
    name: 'CHECKPOINT_NOT_AT_LOG_POSITION',
    meaning:
      'A checkpoint about to be written does not hold the state its log position gives (its SP differs from the SP after the last COMMIT logged before it); nothing is written and the appliance stops.',
    action: 'A bug in the writer; restart the appliance (it recovers from its log) and report it.',
  },
  // Transport (host/transport/, docs/TRANSPORT.md): DINAMO's network numbers, 386xx hsmpool's own.
  {
    code: 5001,
    name: 'NET_FAIL',
    meaning:
      'The connection to a peer dropped, or the transport was closed, before the operation finished.',
    action:
      'Check that the peer runs and the network between the nodes; peer links reconnect by themselves.',
  },
  {
    code: 5306,
    name: 'SVMK_MISMATCH',
    meaning:
      'The peer does not hold the same pool master key (SVMK): the mutual challenge-response failed and the connection was closed before any message crossed.',
    action:
      'A node joins a domain only with its SVMK: check which pool this address belongs to, or restore the node with the pool SVMK.',
  },
  {
    code: 37002,
    name: 'CANNOT_P2P_HANDSHAKE',
    meaning:
      'The peer handshake did not finish: it timed out, came out of order or spoke another handshake version.',
    action:
      'Check that both nodes run the same hsmpool version and that the link is not stuck; peer links retry with backoff.',
  },
  {
    code: 37004,
    name: 'CANNOT_P2P_CONNECT',
    meaning:
      'No connection could be opened to the peer address (refused, unreachable, timed out, or the upgrade was refused).',
    action: 'Check the address in the node cache and that the peer listens there.',
  },
  {
    code: 37005,
    name: 'CANNOT_P2P_SEND',
    meaning: 'A message could not be written to the peer connection: it closed first.',
    action: 'Retry; peer links reconnect by themselves.',
  },
  {
    code: 37006,
    name: 'CANNOT_P2P_RECV',
    meaning: 'The peer did not answer in time (cross check).',
    action:
      'The peer or the link is slow or stuck: check the peer, or retry with a longer timeout.',
  },
  {
    code: 38601,
    name: 'FRAME_TOO_LARGE',
    meaning:
      'A frame or message is longer than PEER_MESSAGE_SIZE_MAX (4 MiB); the connection was closed and nothing was applied.',
    action: 'A bug or an attack on the sending side; split the work (a batch is at most 1 MiB).',
  },
  {
    code: 38602,
    name: 'FRAME_MALFORMED',
    meaning:
      'A frame or message is badly formed (unknown kind or version, truncated, not UTF-8 or JSON, a field missing, extra, of the wrong type or out of range); the connection was closed and nothing was applied.',
    action: 'A bug or another program on the port; report it with the bytes.',
  },
  {
    code: 38603,
    name: 'FRAME_UNAUTHENTICATED',
    meaning:
      'A frame failed authentication (tampered, replayed, reordered, sent before the handshake, or an envelope naming another sender than the authenticated peer); the connection was closed and nothing was applied.',
    action: 'Traffic between the nodes was altered, or a bug: check the network path.',
  },
  {
    code: 38604,
    name: 'PEER_ID_MISMATCH',
    meaning:
      "The node at this address proved another node id than the node cache says, or a peer claimed this node's own id.",
    action: 'Update the node cache: the address now belongs to another node.',
  },
  // HSM service and client SDK (host/service, host/client; docs/CLIENT.md). Server side 387xx;
  // client side in DINAMO's client range (1001-1078); client network errors negative, as DINAMO's.
  {
    code: 5304,
    name: 'SERVER_BUSY',
    meaning: 'The node already serves SESSIONS_MAX (1024) sessions.',
    action: 'Retry later (the SDK backs off and retries) or use another node.',
  },
  {
    code: 38701,
    name: 'AUTH_FAILED',
    meaning:
      'Login failed: unknown user, wrong password, or a locked account (the node never says which).',
    action:
      "Check the user name and password; after the policy's maxFailedLogins failures the account locks until an administrator unlocks it (docs/SECURITY.md).",
  },
  {
    code: 38702,
    name: 'USER_LOCKED',
    meaning:
      "Reserved: a locked account (failed-login count at the policy's maxFailedLogins) is no longer told apart at login — it answers AUTH_FAILED (38701) to every attempt, the right password included; user.list shows the lock.",
    action:
      "An administrator unlocks it (user.unlock); a locked-out sole administrator is unlocked from a node's local console (unlock USER).",
  },
  {
    code: 38703,
    name: 'NOT_AUTHENTICATED',
    meaning: 'The request needs a logged-in session, or a login step came out of order.',
    action: 'Log in first: login.start, then login.finish.',
  },
  {
    code: 38704,
    name: 'SESSION_EXPIRED',
    meaning:
      "The session ended: idle longer than the policy's sessionTimeoutSeconds, or its user was deleted.",
    action: "Log in again (the SDK does it by itself); the old session's temporary keys are gone.",
  },
  {
    code: 38705,
    name: 'MALFORMED_REQUEST',
    meaning:
      'A frame or request is not valid: not JSON, an unknown type, a missing, extra or mistyped field, bad base64 or hex.',
    action: 'Fix the request; docs/CLIENT.md lists every field. Nothing was changed.',
  },
  {
    code: 38706,
    name: 'INPUT_TOO_LARGE',
    meaning:
      'An input exceeds its named limit (frame 131072 characters, message 65536 bytes, AAD 8192 bytes, list page 1000; docs/CLIENT.md).',
    action: 'Split the input or use a smaller page.',
  },
  {
    code: 38707,
    name: 'PASSWORD_POLICY',
    meaning:
      "The password is shorter than the policy's minPasswordLength or longer than PASSWORD_LENGTH_MAX (128 characters).",
    action: 'Choose a password within the limits.',
  },
  {
    code: 38708,
    name: 'KEY_NOT_EXPORTABLE',
    meaning: 'The key was not created exportable: it never leaves the pool.',
    action: 'Use it inside the pool, or create an exportable key.',
  },
  {
    code: 38709,
    name: 'EXPORT_DISABLED',
    meaning: 'The pool policy forbids key export (keyExportAllowed is off).',
    action: 'An administrator may change the policy (policy.set).',
  },
  {
    code: 38710,
    name: 'WRONG_KEY_TYPE',
    meaning:
      'The operation does not apply to this key type (sign with an AES key, encrypt with an EC key, ...).',
    action: 'Use a key of a suitable type (docs/CLIENT.md, "Key types").',
  },
  {
    code: 38711,
    name: 'INVALID_KEY_MATERIAL',
    meaning: 'Imported key material has the wrong length or encoding for its type.',
    action:
      "Raw bytes of the key size for AES, CMAC and HMAC (HMAC-SHA-256/384/512: 32/48/64), the big-endian scalar for EC (P-256 32, P-384 48, P-521 66, secp256k1 32), the seed for Ed25519 (32) and Ed448 (57), 32 bytes for X25519, PKCS#8 DER for RSA with the type's modulus.",
  },
  {
    code: 38712,
    name: 'DECRYPT_FAILED',
    meaning:
      'Authentication failed: the ciphertext, the AAD, the key or a sealed input does not match.',
    action: 'Check that the same key and AAD are used; the data may have been altered.',
  },
  {
    code: 38713,
    name: 'USER_IN_USE',
    meaning: 'The user owns objects, or is named in more ACLs than one write can revoke (15).',
    action:
      'Remove its objects and revoke its grants first (an administrator may remove any object).',
  },
  {
    code: 38714,
    name: 'TOO_MANY_TEMPORARY_KEYS',
    meaning: 'The session holds TEMPORARY_KEYS_MAX (64) temporary keys.',
    action: 'Remove temporary keys you no longer need.',
  },
  {
    code: 38715,
    name: 'KEY_UNWRAP_FAILED',
    meaning:
      "A stored key does not unwrap under this node's SVMK: the record is corrupt or the node has another SVMK.",
    action:
      'Compare SPs in the console and live-sync this node; check that every member shares the SVMK.',
  },
  {
    code: 38716,
    name: 'SELF_DELETE_REFUSED',
    meaning: 'A user cannot delete itself (this keeps an administrator in the pool).',
    action: 'Have another administrator delete the user.',
  },
  {
    code: 38717,
    name: 'UNSUPPORTED_HERE',
    meaning:
      'The operation needs WebCrypto, which this runtime lacks (RSA-2048; a browser page on a non-secure origin).',
    action: 'Run the node in Node 20+ or serve the page over https or from localhost.',
  },
  {
    code: 38718,
    name: 'ACL_INVALID',
    meaning:
      "The grant names the key's owner, is on a temporary key, or would exceed ACL_ENTRIES_MAX (16) users.",
    action: 'The owner always has every right; temporary keys cannot be shared.',
  },
  {
    code: 38719,
    name: 'INTERNAL_ERROR',
    meaning: 'An unexpected failure inside the service; nothing was changed.',
    action: 'A bug: report it with the request.',
  },
  // Write outcomes (docs/CLIENT.md "Outcomes").
  {
    code: 38720,
    name: 'WRITE_OUTCOME_PENDING',
    meaning:
      'The write is queued or inside a transaction (prepared, in doubt) and its outcome is not known yet: it may still commit or abort.',
    action:
      'Send the same write again with the same request id (it waits for the original), or ask for its outcome later (client.outcome).',
  },
  {
    code: 38721,
    name: 'REQUEST_ID_UNKNOWN',
    meaning:
      'Outcome query: this node remembers no outcome for the request id and holds it neither queued nor in a transaction. It has not committed as far as this node knows.',
    action:
      'Ask the other nodes; if none knows it, send the write again with the same request id: it runs at most once.',
  },
  // The sealed session channel and connection limits (docs/SECURITY.md).
  {
    code: 38730,
    name: 'CHANNEL_TAMPERED',
    meaning:
      'A sealed frame did not authenticate under the session keys (altered, truncated, forged or from another session). The node closes the connection.',
    action:
      'Someone or something on the path altered the traffic: log in again (the SDK does), and consider TLS (wss://) on that network.',
  },
  {
    code: 38731,
    name: 'CHANNEL_OUT_OF_SEQUENCE',
    meaning:
      "A sealed frame's counter was not the next one in its direction (replayed, reordered or dropped), or a sealed frame arrived before login. The node closes the connection.",
    action: 'Log in again (the SDK does); a frame replayed or reordered on the path was refused.',
  },
  {
    code: 38732,
    name: 'CHANNEL_PLAINTEXT',
    meaning:
      'A plaintext frame arrived on a logged-in session, whose frames must all be sealed (an injection). The node closes the connection.',
    action: 'Use the SDK or follow docs/CLIENT.md "Sealed frames"; log in again.',
  },
  {
    code: 38733,
    name: 'LOGIN_DEADLINE',
    meaning:
      'The node closed a connection that did not log in within LOGIN_DEADLINE_MS (10 s) or sent more than PRE_LOGIN_FRAMES_MAX (8) frames before logging in.',
    action: 'Log in right after connecting (the SDK does).',
  },
  {
    code: 38734,
    name: 'CONNECTION_LIMIT',
    meaning:
      'The node closed or refused a client connection over a named limit: requests in flight (CONNECTION_IN_FLIGHT_MAX), unread replies (REPLY_BACKLOG_BYTES_MAX), a partial message held too long, or connections from one address (CONNECTIONS_PER_SOURCE_MAX).',
    action: 'Read your replies, keep fewer requests in flight, or open fewer connections.',
  },
  {
    code: 38735,
    name: 'LOCAL_CONSOLE_ONLY',
    meaning:
      "The command needs the node's local console (terminal access to the node): unlocking an account there is the recovery path of a locked-out administrator.",
    action: "Run it on the node's own terminal (hsmpool node --console).",
  },
  {
    code: 38736,
    name: 'RESET_REFUSED_KEYS_HELD',
    meaning:
      "An administrator may set another user's password only while that user owns no key and is granted none: otherwise the administrator could log in as the user and use its keys.",
    action:
      'The user changes its own password (logged in with the old one); or its keys are removed first.',
  },
  {
    code: 1001,
    name: 'INVALID_PARAM',
    meaning: 'The SDK refused an argument before sending it (the message names it).',
    action: 'Fix the argument.',
  },
  {
    code: 1002,
    name: 'SERVER_AUTH_FAILED',
    meaning:
      "The node did not prove it holds your password verifier (SCRAM server signature), or offered password-hashing parameters outside the client's limits.",
    action: 'Do not trust that address: it is not a member of your pool, or it was tampered with.',
  },
  {
    code: 1003,
    name: 'PROTOCOL_ERROR',
    meaning: 'A node sent a reply the SDK cannot understand.',
    action: 'Check that the client and the pool run compatible versions.',
  },
  {
    code: 1004,
    name: 'CLIENT_CLOSED',
    meaning: 'The client was closed.',
    action: 'Connect a new client.',
  },
  {
    code: 1005,
    name: 'TEMPORARY_KEY_LOST',
    meaning:
      'A temporary key lived in a node session that has ended (the node failed or the session expired).',
    action: 'Create the temporary key again; use a persistent key if it must survive failover.',
  },
  {
    code: 1006,
    name: 'WRITE_OUTCOME_UNKNOWN',
    meaning:
      'The SDK gave up on a write without learning its outcome: an attempt was sent and got no definite answer (connection lost, timeout, outcome pending). It may have committed or not.',
    action:
      "The error carries the write's requestId: call client.outcome(requestId) later, or send the same write again with that requestId (it runs at most once).",
  },
  {
    code: -10,
    name: 'NET_CONNECT_FAILED',
    meaning: 'The SDK could not open a connection to a node.',
    action: 'The SDK tries the next node; check the address if every node fails.',
  },
  {
    code: -11,
    name: 'NET_CONNECTION_LOST',
    meaning: 'A connection closed before the reply arrived.',
    action:
      'The SDK retries on another node; a write keeps its request id, so it is never applied twice.',
  },
  {
    code: -12,
    name: 'NET_TIMEOUT',
    meaning: 'No reply within requestTimeoutMs.',
    action: 'The SDK treats the node as failed and tries the next one.',
  },
  {
    code: -18,
    name: 'ALL_NODES_FAILED',
    meaning: 'Every node of the load-balancing list failed.',
    action: "Check the pool and the network; the error's message carries the last failure.",
  },
  // Live-sync (DINAMO numbering).
  {
    code: 37032,
    name: 'UNDEFINED_LIVE_SYNC',
    meaning:
      'A live-sync stopped before it completed: the donor stopped answering or sent data that does not verify.',
    action:
      'Retry the live-sync (from another donor if this one is down); the joiner kept nothing of the attempt.',
  },
  {
    code: 37033,
    name: 'CONNECTED_LIVE_SYNC',
    meaning: 'Live-sync refused: clients have connected to this node since its service started.',
    action: "Restart the node's service, then live-sync before any client connects.",
  },
  {
    code: 37034,
    name: 'SELF_LIVE_SYNC',
    meaning:
      'Live-sync refused: no peer is reachable to sync from (no donor answered, the address is this node, or the donor was itself declared down or diverged).',
    action:
      'Check the donor address and that the donor runs and listens there; sync from a healthy member.',
  },
  {
    code: 37038,
    name: 'CANNOT_PREPARE_LS_TRANS',
    meaning:
      'Live-sync in place refused: this node holds a pending transaction, and its vote may be what decides it.',
    action:
      "Let the replication manager resolve it (the console's info shows it), or declare a dead peer down; then live-sync.",
  },
  // Backup and restore (host/backup, docs/FORMATS.md "Backups").
  {
    code: 38801,
    name: 'BACKUP_FORMAT',
    meaning:
      'The file is not an hsmpool backup of a version this build reads (magic, version or header fields).',
    action: 'Give a file made by hsmpool backup; a newer format needs a newer hsmpool.',
  },
  {
    code: 38802,
    name: 'BACKUP_DAMAGED',
    meaning:
      'The backup file is truncated, has trailing bytes, or is altered (version 2: a chunk does not authenticate, or is out of order; version 1: its SHA-256 checksum does not match); nothing was changed.',
    action: 'Use another copy of the backup, or take a new one.',
  },
  {
    code: 38803,
    name: 'BACKUP_FOREIGN',
    meaning:
      "The backup was not made under this node's SVMK (version 2: its key check; version 1: its chunks do not decrypt): it was made by another pool; nothing was changed.",
    action: 'Restore it into a node of the pool that made it.',
  },
  {
    code: 38804,
    name: 'BACKUP_POOL_MISMATCH',
    meaning:
      'The backup belongs to another pool id or domain than the node directory; nothing was changed.',
    action: 'Restore into a node directory of the pool named in the message.',
  },
  {
    code: 38805,
    name: 'BACKUP_TRANSFER_UNKNOWN',
    meaning:
      'The node holds no backup with that id (fetched completely, forgotten after 5 idle minutes, or the node restarted).',
    action: 'Run hsmpool backup again.',
  },
  {
    code: 38806,
    name: 'BACKUP_BUSY',
    meaning: 'The node already holds the most backups being fetched at once (2).',
    action: 'Let the running backups finish, or wait 5 minutes.',
  },
  {
    code: 38807,
    name: 'BACKUP_PIECE_INVALID',
    meaning: 'The piece index asked for is not one of the running backup (pieces 0 to count - 1).',
    action: 'Ask for the pieces the backup announced, in order (hsmpool backup does).',
  },
  // The consoles (hsmpool's own).
  {
    code: 38810,
    name: 'CONSOLE_USAGE',
    meaning:
      'The console command is unknown or too long, or its arguments are missing or out of range; nothing was done.',
    action: 'Type help for the commands and their arguments.',
  },
  {
    code: 38811,
    name: 'CONSOLE_NOT_HERE',
    meaning:
      "This console does not run the command: node-down runs on the remote console, remove-node on the local one, backup through hsmpool backup, live-sync on the node's own console, audit where the node keeps an audit log.",
    action: 'Run the command on the console the message names.',
  },
  {
    code: 38812,
    name: 'ADDRESS_INVALID',
    meaning:
      'An address is not HOST:PORT, or a discovery range is not HOST:PORT-PORT with ports 1 to 65535 and at most 64 addresses.',
    action: 'Fix the address or the range.',
  },
  {
    code: 38813,
    name: 'LIVE_SYNC_VERSION_MISMATCH',
    meaning:
      'Live-sync refused: the joining node runs another hsmpool release or operating mode than the donor (as DINAMO requires the same firmware version and mode on every member of a pool).',
    action:
      'Run the same release and mode on the joining node as on the pool (info shows both), then live-sync again.',
  },
] as const satisfies readonly ReturnCode[];

export type ReturnCodeName = (typeof table)[number]['name'];

type CodeByName = { readonly [Entry in (typeof table)[number] as Entry['name']]: Entry['code'] };

/** Every code by its name, built from the table (the one list): `CODE.REPLICATION_BUSY === 36000`.
 * Code outside this file names codes only this way; test/core/code-literals.test.ts checks it. */
export const CODE: CodeByName = Object.freeze(
  Object.fromEntries(table.map((entry) => [entry.name, entry.code])),
) as CodeByName;

/** What a write answered with a code tells about it (docs/CLIENT.md "Outcomes"). */
export type WriteOutcome = 'committed' | 'not committed' | 'unknown';

/**
 * The codes after which a write may or may not have committed. Every other error code means
 * the write is certainly not committed: refused before it was queued, withdrawn from the queue
 * (36000), aborted, or run and failed deterministically (the pool remembers that answer); 0
 * means committed. Kept beside the table: docs/RETURN_CODES.md shows it, a test checks it.
 */
const UNKNOWN_OUTCOME: ReadonlySet<number> = new Set<number>([
  CODE.NET_CONNECTION_LOST, // the request may have reached the node
  CODE.NET_TIMEOUT, // sent, no answer
  CODE.WRITE_OUTCOME_UNKNOWN, // the SDK's own verdict
  CODE.CANNOT_WORK, // the node stopped with the write possibly in a transaction
  CODE.WRITE_OUTCOME_PENDING,
]);

/** The outcome a write answered `codeNumber` had. */
export function writeOutcome(codeNumber: number): WriteOutcome {
  if (codeNumber === 0) return 'committed';
  return UNKNOWN_OUTCOME.has(codeNumber) ? 'unknown' : 'not committed';
}

export const RETURN_CODES: readonly ReturnCode[] = table;

const byNumber = new Map<number, ReturnCode>(table.map((entry) => [entry.code, entry]));

/** The numeric code of a name: `code('CANNOT_OPEN_OBJ') === 5004` (CODE.CANNOT_OPEN_OBJ is the same). */
export function code(name: ReturnCodeName): number {
  return CODE[name];
}

export function describe(codeNumber: number): ReturnCode {
  return (
    byNumber.get(codeNumber) ?? {
      code: codeNumber,
      name: 'UNKNOWN',
      meaning: 'Undocumented code.',
      action: 'Report it.',
    }
  );
}

/** An error carrying a documented return code. */
export class HsmError extends Error {
  readonly code: number;
  readonly codeName: string;
  /** The message without the code: what a reply carries, so the receiver names the code once. */
  readonly detail: string;
  constructor(codeNumber: number, detail?: string) {
    const entry = describe(codeNumber);
    super(`${entry.name} (${codeNumber}): ${detail ?? entry.meaning}`);
    this.name = 'HsmError';
    this.code = codeNumber;
    this.codeName = entry.name;
    this.detail = detail ?? entry.meaning;
  }
}
