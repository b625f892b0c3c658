// libFuzzer harness for the WebAssembly core. scripts/fuzz/run.sh translates
// build/core-scalar.wasm to C with wasm2c (fuzz/work/core.c, core.h), generates
// fuzz/work/codes.h from host/core/codes.ts and links this file with clang -fsanitize=fuzzer,
// so the fuzzer sees edge coverage of the code the appliance runs.
//
// One binary, several targets; HSMPOOL_FUZZ_TARGET picks one. A target is a small function
// that feeds one input to one entry point and checks what must hold afterwards. Anything
// wrong ends in abort(), which libFuzzer records as a crash:
//   - a wasm trap (out-of-bounds access, unreachable, stack exhaustion), caught with
//     wasm_rt_impl_try();
//   - a call of the module's env.abort (an AssemblyScript assertion);
//   - a return code that host/core/codes.ts does not document;
//   - a broken invariant named by the target (e.g. incremental Sync-Point != recomputed).
//
// Inputs are copied to the very end of linear memory (a zone this harness grows and the
// core's allocator never hands out), followed by the slack the entry point is documented to
// need and nothing else: a read past input + slack is a trap, not a silent read.
// test/core/corpus.test.ts replays the same input formats through the JS host; keep them in step
// (scripts/fuzz/targets.ts).

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm-rt-impl.h"
#include "core.h"
#include "codes.h"  // generated: DOCUMENTED_CODES[], DOCUMENTED_CODE_COUNT

// Mirrors of host/core/layout.ts.
enum {
  R_SP = 0,
  R_SPVV = 8,
  R_COUNT = 12,
  R_VIEW = 64,
  R_WRITE_RESULTS = 256,
  VIEW_LENGTH = 3,
  SNAPSHOT_HEADER_SIZE = 32,
  BATCH_WRITES_MAX = 256,
};
static const uint32_t CODE_SNAPSHOT_STATE = 38405;

// The slack io_pointer() documents after the IO buffer; entry points that hash may read
// into it.
#define SLACK 64u
#define WASM_PAGE 65536u
// The input zone: the largest accepted input plus slack, rounded up to pages.
#define INPUT_SIZE_MAX (2u << 20)
#define ZONE_PAGES ((INPUT_SIZE_MAX + SLACK + WASM_PAGE - 1) / WASM_PAGE)

// The Sync-Point key every target runs under: bytes 0x00..0x1f (scripts/fuzz/targets.ts).
static uint8_t sp_key[32];

struct Z_env_instance_t {
  int unused;
};

static Z_core_instance_t core;
static struct Z_env_instance_t env;
static wasm_rt_memory_t *memory;
static uint32_t io;
static uint32_t result;
static uint32_t zone_end;  // memory size when the zone was last placed at its end

struct target {
  const char *name;
  const char *entry_points;
  void (*run)(const uint8_t *data, uint32_t size);
};
static const struct target *target;

// ---- failing loudly ----

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *format, ...) {
  va_list arguments;
  va_start(arguments, format);
  fprintf(stderr, "hsmpool-fuzz [%s]: ", target ? target->name : "init");
  vfprintf(stderr, format, arguments);
  fputc('\n', stderr);
  va_end(arguments);
  abort();
}

// An AssemblyScript string: UTF-16LE, its byte length in the object header just before it.
static void print_wasm_string(uint32_t pointer) {
  if (pointer < 4 || pointer > memory->size) {
    fprintf(stderr, "?");
    return;
  }
  uint32_t length;
  memcpy(&length, memory->data + pointer - 4, 4);
  if (length > 512 || length > memory->size - pointer) length = 0;
  for (uint32_t i = 0; i + 1 < length; i += 2) {
    uint8_t c = memory->data[pointer + i];
    fputc(c >= 0x20 && c < 0x7f ? c : '?', stderr);
  }
}

// env.abort: an assertion inside the core. The JS host throws; here it is a crash.
void Z_envZ_abort(struct Z_env_instance_t *unused, uint32_t message, uint32_t file, uint32_t line, uint32_t column) {
  (void)unused;
  fprintf(stderr, "hsmpool-fuzz [%s]: core.wasm called env.abort: \"", target ? target->name : "init");
  print_wasm_string(message);
  fprintf(stderr, "\" at ");
  print_wasm_string(file);
  fprintf(stderr, ":%u:%u\n", line, column);
  abort();
}

static int verbose;  // HSMPOOL_FUZZ_VERBOSE=1: print every call and its code

static void check_code(const char *entry_point, uint32_t code) {
  if (verbose) fprintf(stderr, "hsmpool-fuzz [%s]: %s -> %u\n", target->name, entry_point, code);
  for (size_t i = 0; i < DOCUMENTED_CODE_COUNT; i++) {
    if (DOCUMENTED_CODES[i] == code) return;
  }
  fail("%s returned %u (0x%x), which host/core/codes.ts does not document", entry_point, code, code);
}

static uint32_t load32(uint32_t address) {
  uint32_t value;
  memcpy(&value, memory->data + address, 4);
  return value;
}

static uint64_t load64(uint32_t address) {
  uint64_t value;
  memcpy(&value, memory->data + address, 8);
  return value;
}

// ---- the input zone ----

// Copies the input so that it ends `slack` bytes before the end of linear memory and fills
// the slack with `fill`. Grows a fresh zone whenever the core grew memory past the last one.
static uint32_t place(const uint8_t *data, uint32_t size, uint32_t slack, uint8_t fill) {
  if (memory->size != zone_end) {
    if (wasm_rt_grow_memory(memory, ZONE_PAGES) == (uint32_t)-1) fail("cannot grow memory for the input zone");
    zone_end = memory->size;
  }
  uint32_t address = zone_end - slack - size;
  memcpy(memory->data + address, data, size);
  memset(memory->data + address + size, fill, slack);
  return address;
}

static void refill_slack(uint32_t address, uint32_t size, uint32_t slack, uint8_t fill) {
  memset(memory->data + address + size, fill, slack);
}

// ---- targets ----

// record: the input is one key-store record. record_decode documents that it reads only
// [pointer, pointer + length), so the input gets no slack at all.
static void run_record(const uint8_t *data, uint32_t size) {
  uint32_t pointer = place(data, size, 0, 0);
  uint32_t code = Z_coreZ_record_decode(&core, pointer, size);
  check_code("record_decode", code);
  if (code == 0 && load32(result + R_VIEW + VIEW_LENGTH * 4) != size) fail("record_decode accepted a record but its view has another length");
}

struct sync_point {
  uint64_t sp;
  uint32_t spvv;
  uint32_t count;
};

static struct sync_point read_sync_point(void) {
  struct sync_point point = {load64(result + R_SP), load32(result + R_SPVV), load32(result + R_COUNT)};
  return point;
}

// The incremental Sync-Point must equal one recomputed from every record.
static void check_store_consistent(const char *after) {
  uint32_t code = Z_coreZ_sp_recompute(&core);
  if (code != 0) fail("after %s, sp_recompute returned %u: the incremental Sync-Point differs from a recomputation", after, code);
}

static void clear_store(void) {
  Z_coreZ_snapshot_import_abort(&core);
  uint32_t code = Z_coreZ_store_clear(&core);
  if (code != 0) fail("store_clear returned %u", code);
}

// batch: the input is an operation batch, applied to an empty store first as a dry run, then
// committed. Both must give the same code, per-write results and Sync-Point; the dry run must
// leave the store empty; the slack differs between the two (0xA5, then 0x00), so a result that
// depends on bytes past the batch shows as a difference.
static void run_batch(const uint8_t *data, uint32_t size) {
  static uint32_t dry_results[BATCH_WRITES_MAX];
  uint32_t pointer = place(data, size, SLACK, 0xa5);
  uint32_t dry = Z_coreZ_store_apply(&core, pointer, size, 0);
  check_code("store_apply (dry run)", dry);
  uint32_t writes = size >= 2 ? (uint32_t)data[0] | (uint32_t)data[1] << 8 : 0;
  if (writes > BATCH_WRITES_MAX) writes = BATCH_WRITES_MAX;
  struct sync_point dry_point = read_sync_point();
  if (dry == 0) memcpy(dry_results, memory->data + result + R_WRITE_RESULTS, writes * 4);
  if (Z_coreZ_store_count(&core) != 0) fail("a dry run left %u records in the store", Z_coreZ_store_count(&core));
  check_store_consistent("a dry run");

  refill_slack(pointer, size, SLACK, 0x00);
  uint32_t commit = Z_coreZ_store_apply(&core, pointer, size, 1);
  check_code("store_apply (commit)", commit);
  if (commit != dry) fail("dry run returned %u but commit returned %u", dry, commit);
  if (commit == 0) {
    struct sync_point point = read_sync_point();
    if (memcmp(dry_results, memory->data + result + R_WRITE_RESULTS, writes * 4) != 0) fail("dry run and commit gave different per-write results");
    if (point.sp != dry_point.sp || point.spvv != dry_point.spvv || point.count != dry_point.count) fail("dry run and commit gave different Sync-Points");
    if (point.count != Z_coreZ_store_count(&core)) fail("the Sync-Point counts %u records, the store %u", point.count, Z_coreZ_store_count(&core));
  } else if (Z_coreZ_store_count(&core) != 0) {
    fail("a refused batch (%u) left %u records", commit, Z_coreZ_store_count(&core));
  }
  check_store_consistent("a commit");
  clear_store();
}

// Exports the store and compares the stream with the imported header and frames.
static void check_export_matches(const uint8_t *header, const uint8_t *frames, uint32_t frames_size) {
  int32_t header_size = (int32_t)Z_coreZ_snapshot_export_begin(&core, io);
  if (header_size != SNAPSHOT_HEADER_SIZE) fail("snapshot_export_begin returned %d after a good import", header_size);
  if (memcmp(memory->data + io, header, SNAPSHOT_HEADER_SIZE) != 0) fail("the exported header differs from the imported one");
  uint32_t at = 0;
  for (;;) {
    int32_t written = (int32_t)Z_coreZ_snapshot_export_next(&core, io, Z_coreZ_io_size(&core));
    if (written < 0) fail("snapshot_export_next returned %d", written);
    if (written == 0) break;
    if ((uint32_t)written > frames_size - at || memcmp(memory->data + io, frames + at, (uint32_t)written) != 0) {
      fail("the exported frames differ from the imported ones at byte %u", at);
    }
    at += (uint32_t)written;
  }
  Z_coreZ_snapshot_export_end(&core);
  if (at != frames_size) fail("the export is %u bytes of frames, the import was %u", at, frames_size);
}

// snapshot: the input is a snapshot header (32 bytes) then chunks, each a u32 little-endian
// length and that many bytes (a last chunk cut short is passed as it is). A failed import
// must leave the store empty; a good one must be consistent, hold the promised count and
// export to exactly the same bytes.
static void run_snapshot(const uint8_t *data, uint32_t size) {
  static uint8_t frames[INPUT_SIZE_MAX];
  uint32_t frames_size = 0;
  uint32_t header_size = size < SNAPSHOT_HEADER_SIZE ? size : SNAPSHOT_HEADER_SIZE;
  uint32_t code = Z_coreZ_snapshot_import_begin(&core, place(data, header_size, SLACK, 0), header_size);
  check_code("snapshot_import_begin", code);
  if (code != 0) {
    if (Z_coreZ_store_count(&core) != 0) fail("a refused header left records in the store");
    clear_store();
    return;
  }
  uint32_t at = header_size;
  while (code == 0 && at < size) {
    uint32_t length = size - at;
    if (size - at >= 4) {
      memcpy(&length, data + at, 4);
      at += 4;
      if (length > size - at) length = size - at;
    }
    // Each chunk alone at the end of memory: reading past it traps.
    code = Z_coreZ_snapshot_import_chunk(&core, place(data + at, length, SLACK, 0), length);
    check_code("snapshot_import_chunk", code);
    memcpy(frames + frames_size, data + at, length);
    frames_size += length;
    at += length;
  }
  if (code != 0) {
    if (Z_coreZ_store_count(&core) != 0) fail("a refused chunk (%u) left %u records", code, Z_coreZ_store_count(&core));
    uint32_t end = Z_coreZ_snapshot_import_end(&core);
    if (end != CODE_SNAPSHOT_STATE) fail("snapshot_import_end after a refused chunk returned %u, not SNAPSHOT_STATE", end);
    clear_store();
    return;
  }
  code = Z_coreZ_snapshot_import_end(&core);
  check_code("snapshot_import_end", code);
  if (code != 0) {
    if (Z_coreZ_store_count(&core) != 0) fail("a refused import (%u) left %u records", code, Z_coreZ_store_count(&core));
  } else {
    check_store_consistent("an import");
    uint64_t promised;
    memcpy(&promised, data + 8, 8);
    if (Z_coreZ_store_count(&core) != promised) fail("the import holds %u records, the header promised %llu", Z_coreZ_store_count(&core), (unsigned long long)promised);
    check_export_matches(data, frames, frames_size);
  }
  clear_store();
}

// ---- log targets (the transaction-log codec, assembly/txlog*.ts) ----

// Mirrors of assembly/txlog.ts and assembly/txlog-scan.ts.
enum {
  R_HASH = 32,
  LOG_HEADER_SIZE = 112,
  LOG_HEADER_CHECKED_SIZE = 96,
  H_BODY_LENGTH = 8,
  H_POOL = 16,
  H_SEQUENCE = 32,
  H_BODY_CHECKSUM = 48,
  H_PARENT = 64,
  H_HEADER_CHECKSUM = 96,
  S_CONSUMED = 0,
  S_RESULT_COUNT = 4,
  S_VALID_LENGTH = 8,
  S_ENTRIES = 16,
  S_NEXT = 24,
  S_LAST_SEQUENCE = 32,
  S_POOL = 64,
  S_MODE = 76,
  S_DAMAGE_OFFSET = 80,
  S_DAMAGE_CODE = 88,
  S_ENTRY_LENGTH = 92,
  S_WITNESS_OFFSET = 96,
  S_ENTRY_CHECKSUM = 104,
  LOG_RESULT_SIZE = 40,
  E_OFFSET = 0,
  E_SEQUENCE = 8,
  E_EPOCH = 24,
  E_LENGTH = 32,
  SCAN_MORE = 1,
  SCAN_CHAIN_KNOWN = 1,
  SCAN_ANY_POOL = 2,
  LOG_SCAN_RESULTS_MAX = 4096,
};
static const uint32_t CODE_CANNOT_LOAD_LOG = 37027;
static const uint32_t CODE_LOG_WRONG_POOL = 38310;
// The pool every log seed belongs to (scripts/fuzz/targets.ts: FUZZ_POOL_ID).
static const uint64_t FUZZ_POOL_ID = 0x1122334455667788ull;
static uint32_t log_state;
static uint32_t log_results;

static uint64_t le64(const uint8_t *p) {
  uint64_t value;
  memcpy(&value, p, 8);
  return value;
}

// Checks one entry: same code whatever the slack holds; the pool check agrees with the entry's
// pool; an accepted entry, its checksums cleared and sealed again, is the same bytes.
static void check_log_entry(const uint8_t *data, uint32_t size) {
  uint32_t pointer = place(data, size, SLACK, 0xa5);
  uint32_t code = Z_coreZ_log_check(&core, pointer, size, 0, 0);
  check_code("log_check (any pool)", code);
  uint32_t length = load32(log_state + S_ENTRY_LENGTH);
  uint8_t checksum[16];
  memcpy(checksum, memory->data + log_state + S_ENTRY_CHECKSUM, 16);
  refill_slack(pointer, size, SLACK, 0x00);
  uint32_t again = Z_coreZ_log_check(&core, pointer, size, 0, 0);
  if (again != code) fail("log_check returned %u, then %u with other bytes in the slack after the input", code, again);
  uint32_t pooled = Z_coreZ_log_check(&core, pointer, size, FUZZ_POOL_ID, 1);
  check_code("log_check (pool)", pooled);
  if (code != 0) return;

  uint32_t body_length;
  memcpy(&body_length, data + H_BODY_LENGTH, 4);
  if (length != LOG_HEADER_SIZE + body_length || length > size) fail("log_check accepted an entry of %u bytes (body %u, input %u)", length, body_length, size);
  if (memcmp(checksum, data + H_HEADER_CHECKSUM, 16) != 0) fail("log_check reported another checksum than the entry's");
  uint32_t expected = le64(data + H_POOL) == FUZZ_POOL_ID ? 0 : CODE_LOG_WRONG_POOL;
  if (pooled != expected) fail("log_check with pool %llx returned %u for an entry of pool %llx", (unsigned long long)FUZZ_POOL_ID, pooled, (unsigned long long)le64(data + H_POOL));

  // Round trip through the encoder: the parent goes to the IO buffer, the entry to the zone.
  memcpy(memory->data + io, data + H_PARENT, 16);
  uint32_t copy = place(data, length, SLACK, 0);
  memset(memory->data + copy + H_BODY_CHECKSUM, 0, 16);
  memset(memory->data + copy + H_HEADER_CHECKSUM, 0, 16);
  uint32_t sealed = Z_coreZ_log_seal(&core, copy, length, io);
  if (sealed != 0) fail("log_seal refused (%u) an entry log_check accepted", sealed);
  if (memcmp(memory->data + copy, data, length) != 0) fail("log_seal of an accepted entry gave other bytes");
}

// log_entry: the input is one log entry (more bytes may follow it).
static void run_log_entry(const uint8_t *data, uint32_t size) {
  check_log_entry(data, size);
}

// log_entry_fixed: as log_entry, but the harness first writes correct body and header
// checksums into the input (when its header and declared body fit), so mutations reach the
// header fields and body validators instead of stopping at a checksum mismatch.
static void run_log_entry_fixed(const uint8_t *data, uint32_t size) {
  static uint8_t fixed[INPUT_SIZE_MAX];
  memcpy(fixed, data, size);
  if (size >= LOG_HEADER_SIZE) {
    uint32_t body_length;
    memcpy(&body_length, fixed + H_BODY_LENGTH, 4);
    uint32_t pointer = place(fixed, size, SLACK, 0);
    if (body_length <= size - LOG_HEADER_SIZE) {
      Z_coreZ_checksum(&core, pointer + LOG_HEADER_SIZE, body_length);
      memcpy(fixed + H_BODY_CHECKSUM, memory->data + result + R_HASH, 16);
      memcpy(memory->data + pointer + H_BODY_CHECKSUM, fixed + H_BODY_CHECKSUM, 16);
    }
    Z_coreZ_checksum(&core, pointer, LOG_HEADER_CHECKED_SIZE);
    memcpy(fixed + H_HEADER_CHECKSUM, memory->data + result + R_HASH, 16);
  }
  check_log_entry(fixed, size);
}

// What a scan decided, read from the state block at its end.
struct scan_outcome {
  uint32_t code;
  uint64_t valid_length;
  uint64_t entries;
  uint8_t chain[S_POOL + 8 - S_LAST_SEQUENCE];  // last sequence, last epoch, parent checksum, pool
  uint32_t mode;
  uint64_t damage_offset;
  uint32_t damage_code;
  uint64_t witness_offset;
  // The first entry found: where it ends and the chain position after it.
  uint64_t first_end;
  uint64_t first_sequence;
  uint64_t first_epoch;
};

// Where a scan that knows the chain starts from (SCAN_CHAIN_KNOWN).
struct chain_position {
  uint64_t sequence;
  uint64_t epoch;
  uint8_t parent[16];
};

// Scans `data` as the host does (host/core/txlog.ts scanLog): the stream from S_NEXT in
// windows of `window` bytes, widened when a window holds no whole entry. Checks that the
// reported entries tile the valid prefix.
static struct scan_outcome scan_log(const uint8_t *data, uint32_t size, uint32_t window, uint32_t flags, uint64_t pool, const struct chain_position *after) {
  struct scan_outcome outcome;
  memset(&outcome, 0, sizeof outcome);
  static const struct chain_position start;  // the position before a log that starts at sequence 1
  if (!after) after = &start;
  memcpy(memory->data + io, after->parent, 16);
  uint32_t begun = Z_coreZ_log_scan_begin(&core, pool, flags, io, after->sequence, after->epoch);
  if (begun != 0) fail("log_scan_begin returned %u", begun);
  uint64_t next = 0, tiled = 0, entries = 0, last_sequence = after->sequence;
  uint32_t code;
  for (uint32_t calls = 0;; calls++) {
    if (calls > size + 64) fail("the scan of %u bytes did not end after %u calls (window %u)", size, calls, window);
    uint32_t end = next + window < size ? (uint32_t)next + window : size;
    uint32_t pointer = place(data + next, end - (uint32_t)next, SLACK, 0);
    code = Z_coreZ_log_scan(&core, pointer, end - (uint32_t)next, end == size);
    uint32_t count = load32(log_state + S_RESULT_COUNT);
    if (count > LOG_SCAN_RESULTS_MAX) fail("log_scan reported %u results", count);
    for (uint32_t i = 0; i < count; i++) {
      uint32_t entry = log_results + i * LOG_RESULT_SIZE;
      uint64_t sequence = load64(entry + E_SEQUENCE);
      if (load64(entry + E_OFFSET) != tiled) fail("scan result %llu at offset %llu, expected %llu", (unsigned long long)entries, (unsigned long long)load64(entry + E_OFFSET), (unsigned long long)tiled);
      if ((entries > 0 || (flags & SCAN_CHAIN_KNOWN)) && sequence != last_sequence + 1) fail("scan result sequence %llu after %llu", (unsigned long long)sequence, (unsigned long long)last_sequence);
      tiled += load32(entry + E_LENGTH);
      if (entries == 0) {
        outcome.first_end = tiled;
        outcome.first_sequence = sequence;
        outcome.first_epoch = load64(entry + E_EPOCH);
      }
      last_sequence = sequence;
      entries++;
    }
    if (code != SCAN_MORE) break;
    if (load32(log_state + S_CONSUMED) == 0) {
      if (end == size) fail("log_scan asked for more with the whole rest of the stream in its window");
      window = window > INPUT_SIZE_MAX / 2 ? INPUT_SIZE_MAX : window * 2;
    }
    uint64_t now = load64(log_state + S_NEXT);
    if (now < next || now > size) fail("log_scan moved S_NEXT from %llu to %llu (stream of %u)", (unsigned long long)next, (unsigned long long)now, size);
    next = now;
  }
  check_code("log_scan", code);

  uint64_t valid_length = load64(log_state + S_VALID_LENGTH);
  uint32_t damage_code = load32(log_state + S_DAMAGE_CODE);
  uint64_t damage_offset = load64(log_state + S_DAMAGE_OFFSET);
  if (tiled != valid_length || entries != load64(log_state + S_ENTRIES)) fail("the scan results cover %llu bytes in %llu entries, the state says %llu in %llu", (unsigned long long)tiled, (unsigned long long)entries, (unsigned long long)valid_length, (unsigned long long)load64(log_state + S_ENTRIES));
  if (code == 0 && damage_code == 0 && valid_length != size) fail("a clean scan kept %llu of %u bytes", (unsigned long long)valid_length, size);
  if (damage_code != 0) {
    check_code("log_scan damage code", damage_code);
    if (damage_offset != valid_length) fail("damage at %llu but the valid prefix ends at %llu", (unsigned long long)damage_offset, (unsigned long long)valid_length);
  }
  if (code == CODE_CANNOT_LOAD_LOG && damage_code == 0) fail("a refused log names no damage");

  outcome.code = code;
  outcome.valid_length = valid_length;
  outcome.entries = entries;
  memcpy(outcome.chain, memory->data + log_state + S_LAST_SEQUENCE, sizeof outcome.chain);
  outcome.mode = load32(log_state + S_MODE);
  outcome.damage_offset = damage_offset;
  outcome.damage_code = damage_code;
  outcome.witness_offset = load64(log_state + S_WITNESS_OFFSET);
  return outcome;
}

// Compares scan `b` of the stream from byte `shift` on with scan `a` of the whole stream.
static void compare_scans(const struct scan_outcome *a, const struct scan_outcome *b, uint64_t shift, uint64_t skipped, const char *how) {
  if (a->code != b->code) fail("one scan returned %u, %s returned %u", a->code, how, b->code);
  if (a->valid_length != b->valid_length + shift || a->entries != b->entries + skipped) fail("%s found another valid prefix", how);
  if (memcmp(a->chain, b->chain, sizeof a->chain) != 0) fail("%s ended in another chain position or pool", how);
  if (a->mode != b->mode || a->damage_code != b->damage_code) fail("%s ended in mode %u damage %u, not %u %u", how, b->mode, b->damage_code, a->mode, a->damage_code);
  if (a->damage_code != 0 && a->damage_offset != b->damage_offset + shift) fail("%s placed the damage elsewhere", how);
  if (a->code != 0 && a->witness_offset != b->witness_offset + shift) fail("%s named another witness offset", how);
}

// log_scan: the input is a log byte stream. One scan with the whole stream in one window;
// the same answer is required from small windows (widened as the host does) and,
// when the first scan found an entry, from a scan of the rest of the stream that starts
// after that entry with the chain and pool known (SCAN_CHAIN_KNOWN), in windows of a third.
static void run_log_scan(const uint8_t *data, uint32_t size) {
  uint32_t whole = size > 0 ? size : 1;
  struct scan_outcome one = scan_log(data, size, whole, SCAN_ANY_POOL, 0, NULL);
  // Small windows: 64 bytes (less than a header) for short streams; for long ones a
  // sixteenth, which keeps the number of calls, and the cost, bounded.
  struct scan_outcome small = scan_log(data, size, 64 + size / 16, SCAN_ANY_POOL, 0, NULL);
  compare_scans(&one, &small, 0, 0, "a scan in small windows");
  if (one.entries == 0) return;
  struct chain_position after = {one.first_sequence, one.first_epoch, {0}};
  memcpy(after.parent, data + H_HEADER_CHECKSUM, 16);  // the first entry starts at 0
  uint64_t pool = le64(one.chain + (S_POOL - S_LAST_SEQUENCE));
  uint32_t rest = size - (uint32_t)one.first_end;
  struct scan_outcome continued = scan_log(data + one.first_end, rest, rest / 3 + 1, SCAN_CHAIN_KNOWN, pool, &after);
  compare_scans(&one, &continued, one.first_end, 1, "a scan of the rest after the first entry");
}

// log_scan_fixed: as log_scan, but the harness first walks the stream entry by entry and
// writes correct checksums and parent links (an entry of sequence 1 keeps its parent), so
// mutations of header fields and bodies reach the chain, pool, epoch and body checks.
static void run_log_scan_fixed(const uint8_t *data, uint32_t size) {
  static uint8_t fixed[INPUT_SIZE_MAX];
  memcpy(fixed, data, size);
  uint32_t at = 0;
  uint8_t parent[16];
  int have_parent = 0;
  while (size - at >= LOG_HEADER_SIZE) {
    uint8_t *entry = fixed + at;
    uint32_t body_length;
    memcpy(&body_length, entry + H_BODY_LENGTH, 4);
    if (body_length > size - at - LOG_HEADER_SIZE) break;
    if (have_parent && le64(entry + H_SEQUENCE) != 1) memcpy(entry + H_PARENT, parent, 16);
    uint32_t pointer = place(entry, LOG_HEADER_SIZE + body_length, SLACK, 0);
    Z_coreZ_checksum(&core, pointer + LOG_HEADER_SIZE, body_length);
    memcpy(entry + H_BODY_CHECKSUM, memory->data + result + R_HASH, 16);
    memcpy(memory->data + pointer + H_BODY_CHECKSUM, entry + H_BODY_CHECKSUM, 16);
    Z_coreZ_checksum(&core, pointer, LOG_HEADER_CHECKED_SIZE);
    memcpy(entry + H_HEADER_CHECKSUM, memory->data + result + R_HASH, 16);
    memcpy(parent, entry + H_HEADER_CHECKSUM, 16);
    have_parent = 1;
    at += LOG_HEADER_SIZE + body_length;
  }
  run_log_scan(fixed, size);
}

static const struct target targets[] = {
  {"record", "record_decode", run_record},
  {"batch", "store_apply (dry run, then commit)", run_batch},
  {"snapshot", "snapshot_import_begin/chunk/end, then export", run_snapshot},
  {"log_entry", "log_check, log_seal", run_log_entry},
  {"log_entry_fixed", "log_check, log_seal (checksums fixed up first)", run_log_entry_fixed},
  {"log_scan", "log_scan_begin, log_scan", run_log_scan},
  {"log_scan_fixed", "log_scan_begin, log_scan (checksums and parents fixed up first)", run_log_scan_fixed},
};

// ---- libFuzzer entry points ----

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *name = getenv("HSMPOOL_FUZZ_TARGET");
  for (size_t i = 0; name && i < sizeof targets / sizeof targets[0]; i++) {
    if (strcmp(targets[i].name, name) == 0) target = &targets[i];
  }
  if (!target) {
    fprintf(stderr, "hsmpool-fuzz: set HSMPOOL_FUZZ_TARGET to one of:");
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) fprintf(stderr, " %s", targets[i].name);
    fputc('\n', stderr);
    exit(2);
  }
  for (int i = 0; i < 32; i++) sp_key[i] = (uint8_t)i;
  verbose = getenv("HSMPOOL_FUZZ_VERBOSE") != NULL && strcmp(getenv("HSMPOOL_FUZZ_VERBOSE"), "0") != 0;

  wasm_rt_init();
  Z_core_init_module();
  Z_core_instantiate(&core, &env);
  memory = Z_coreZ_memory(&core);
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != WASM_RT_TRAP_NONE) fail("wasm trap during initialisation: %s", wasm_rt_strerror(trap));
  if (Z_coreZ_core_init(&core) != 0) fail("core_init failed");
  io = Z_coreZ_io_pointer(&core);
  result = Z_coreZ_result_pointer(&core);
  memcpy(memory->data + io, sp_key, sizeof sp_key);
  if (Z_coreZ_sp_set_key(&core, io) != 0) fail("sp_set_key failed");
  log_state = Z_coreZ_log_state_pointer(&core);
  log_results = Z_coreZ_log_results_pointer(&core);
  fprintf(stderr, "hsmpool-fuzz: target %s (%s)\n", target->name, target->entry_points);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > INPUT_SIZE_MAX) return -1;  // larger than the IO buffer: not an input the host can pass
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != WASM_RT_TRAP_NONE) fail("wasm trap: %s (input of %zu bytes)", wasm_rt_strerror(trap), size);
  target->run(data, (uint32_t)size);
  return 0;
}
