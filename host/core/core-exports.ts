// The exports of build/core.wasm as the host calls them (assembly/index.ts defines them).

export interface CoreExports {
  memory: WebAssembly.Memory;
  core_init(): number;
  io_pointer(): number;
  io_size(): number;
  result_pointer(): number;
  sp_set_key(pointer: number): number;
  sp_current(): number;
  sp_recompute(): number;
  sp_fold(pointer: number): number;
  record_value(pointer: number, length: number): number;
  sp_sum_frames(pointer: number, count: number): number;
  siphash(key: number, pointer: number, length: number, c: number, d: number, wide: number): number;
  checksum(pointer: number, length: number): number;
  record_decode(pointer: number, length: number): number;
  record_encode_user(...args: number[]): number;
  record_encode_object(...args: number[]): number;
  record_encode_policy(
    out: number,
    minPassword: number,
    maxFailed: number,
    flags: number,
    timeout: number,
  ): number;
  store_apply(pointer: number, length: number, mode: number): number;
  store_get(kind: number, name: number, nameLength: number, out: number, capacity: number): number;
  store_list(kind: number, cursor: number, out: number, capacity: number): number;
  store_slots(): number;
  store_count(): number;
  store_growth(): number;
  store_clear(): number;
  snapshot_export_begin(out: number): number;
  snapshot_export_next(out: number, capacity: number): number;
  snapshot_export_prepare(budget: number): number;
  snapshot_sort_path(): number;
  snapshot_export_bytes(): number;
  snapshot_export_end(): void;
  snapshot_import_begin(header: number, length: number): number;
  snapshot_import_reserve(frameBytes: number): number;
  snapshot_import_chunk(pointer: number, length: number): number;
  snapshot_import_end(): number;
  snapshot_import_abort(): void;
}
