#!/usr/bin/env bash
# Coverage-guided fuzzing of the WebAssembly core: wasm2c turns build/core-scalar.wasm into C,
# clang's libFuzzer fuzzes that C (scripts/fuzz/harness.c). See docs/FUZZING.md.
#
#   scripts/fuzz/run.sh [--target T[,T...]] [--runs N] [--time SECONDS] [--seed N]
#                       [--max-len BYTES] [--ref COMMIT] [--build-only] [--replay]
#                       [--no-wasm-build] [-- extra libFuzzer flags]
#
#   --target   a target, a comma list, or a group: core (record, batch, snapshot),
#              log (log_entry, log_entry_fixed, log_scan, log_scan_fixed), all. Default: log.
#   --runs     executions per target (default 2000000); --time caps each target (default 300 s).
#   --ref      fuzz the core as committed at COMMIT (compiled from git into fuzz/work), not the
#              working tree's build/core-scalar.wasm: a campaign others' edits do not change.
#   --replay   run every file of test/corpus/<target>/ once through the C harness and stop.
#   --build-only  install, translate and compile, then stop.
#
# Installs wabt, clang and libclang-rt-14-dev with apt-get if they are missing (needs root).
# Everything it builds or writes goes under fuzz/work/, except crashers, which are copied into
# test/corpus/<target>/ so test/core/corpus.test.ts keeps them as regression tests.
# One libFuzzer process at a time, one worker: the machine is shared.

set -euo pipefail
# One brace group: bash reads all of it before running any, so editing this file during a
# campaign does not change the campaign.
{

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$ROOT/fuzz/work"
HERE="$ROOT/scripts/fuzz"

# The targets harness.c knows, by group. A log target joins LOG_TARGETS (docs/FUZZING.md).
CORE_TARGETS="record batch snapshot"
LOG_TARGETS="log_entry log_entry_fixed log_scan log_scan_fixed"

targets="log"
runs=2000000
time_limit=300
seed=""
max_len=""
build_only=0
replay_only=0
wasm_build=1
ref=""
extra=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --target | --targets) targets="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --time) time_limit="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --max-len) max_len="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --replay) replay_only=1; shift ;;
    --no-wasm-build) wasm_build=0; shift ;;
    --ref) ref="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

[[ "$runs" =~ ^[0-9]+$ ]] || { echo "fuzz: --runs wants a number" >&2; exit 2; }
[[ "$time_limit" =~ ^[0-9]+$ ]] || { echo "fuzz: --time wants a number of seconds" >&2; exit 2; }

expand_targets() {
  local list=() item
  for item in ${1//,/ }; do
    case "$item" in
      core) list+=($CORE_TARGETS) ;;
      log) list+=($LOG_TARGETS) ;;
      all) list+=($CORE_TARGETS $LOG_TARGETS) ;;
      *)
        if [[ " $CORE_TARGETS $LOG_TARGETS " == *" $item "* ]]; then list+=("$item")
        else echo "fuzz: no target '$item' (targets: $CORE_TARGETS $LOG_TARGETS)" >&2; exit 2; fi ;;
    esac
  done
  if [[ ${#list[@]} -eq 0 ]]; then
    echo "fuzz: '$1' names no target yet (the log targets arrive with the log_* exports; see docs/FUZZING.md)" >&2
    exit 2
  fi
  echo "${list[@]}"
}
selected="$(expand_targets "$targets")"

# Default input size cap per target: a little over the largest valid input worth mutating.
max_len_of() {
  case "$1" in
    record) echo 8300 ;;
    *) echo 20000 ;;
  esac
}

# ---- tools ----

install_tools() {
  if command -v wasm2c >/dev/null && command -v clang >/dev/null && dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
    return
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "fuzz: need wabt, clang and libclang-rt-14-dev; run as root or: sudo apt-get install -y wabt clang libclang-rt-14-dev" >&2
    exit 1
  fi
  echo "fuzz: installing wabt clang libclang-rt-14-dev"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y wabt clang libclang-rt-14-dev
}

runtime_dir() {
  local dir
  for dir in /usr/src/wasm2c /usr/share/wabt/wasm2c; do
    if [[ -f "$dir/wasm-rt-impl.c" ]]; then echo "$dir"; return; fi
  done
  echo "fuzz: wasm-rt-impl.c not found (package wabt: /usr/src/wasm2c)" >&2
  exit 1
}

# ---- build ----

newer() { # newer TARGET SOURCES...: true if TARGET is missing or older than any source
  local target="$1" source
  shift
  [[ -e "$target" ]] || return 0
  for source in "$@"; do [[ "$source" -nt "$target" ]] && return 0; done
  return 1
}

# The scalar core as committed at $ref, compiled once per commit.
wasm_of_ref() {
  local sha source
  sha="$(git -C "$ROOT" rev-parse --verify "$ref^{commit}")" || { echo "fuzz: no commit '$ref'" >&2; exit 2; }
  if [[ ! -f "$WORK/core-$sha.wasm" ]]; then
    source="$WORK/src-$sha"
    rm -rf "$source"
    mkdir -p "$source"
    git -C "$ROOT" archive "$sha" assembly asconfig.json | tar -x -C "$source"
    echo "fuzz: compiling the core of $sha" >&2
    (cd "$ROOT" && npx --no-install asc "$source/assembly/index.ts" --config "$source/asconfig.json" --target scalar --outFile "$WORK/core-$sha.wasm") >&2
    rm -rf "$source"
  fi
  echo "$WORK/core-$sha.wasm"
}

build() {
  mkdir -p "$WORK"
  local wasm="$ROOT/build/core-scalar.wasm"
  if [[ -n "$ref" ]]; then
    wasm="$(wasm_of_ref)"
  elif [[ $wasm_build -eq 1 ]] && newer "$wasm" "$ROOT"/assembly/*.ts; then
    echo "fuzz: build/core-scalar.wasm is missing or older than assembly/: npm run build:wasm"
    (cd "$ROOT" && npm run --silent build:wasm)
  fi
  [[ -f "$wasm" ]] || { echo "fuzz: $wasm is missing: npm run build:wasm" >&2; exit 1; }
  # Fuzz a copy: the campaign stays on one module even if build/ changes under it.
  if ! cmp -s "$wasm" "$WORK/core.wasm"; then cp "$wasm" "$WORK/core.wasm"; fi

  if newer "$WORK/core.c" "$WORK/core.wasm"; then
    echo "fuzz: wasm2c core.wasm"
    wasm2c "$WORK/core.wasm" -n core -o "$WORK/core.c"
  fi
  if newer "$WORK/codes.h" "$ROOT/host/core/codes.ts" "$HERE/codes-header.ts"; then
    (cd "$ROOT" && npx --no-install tsx "$HERE/codes-header.ts") > "$WORK/codes.h.tmp"
    mv "$WORK/codes.h.tmp" "$WORK/codes.h"
  fi

  local runtime cflags=(-O2 -g -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0)
  runtime="$(runtime_dir)"
  # Coverage instrumentation for the core and the harness; the wasm2c runtime stays plain.
  if newer "$WORK/wasm-rt-impl.o" "$runtime/wasm-rt-impl.c"; then
    clang "${cflags[@]}" -I"$runtime" -c "$runtime/wasm-rt-impl.c" -o "$WORK/wasm-rt-impl.o"
  fi
  if newer "$WORK/core.o" "$WORK/core.c"; then
    echo "fuzz: compiling core.c"
    clang "${cflags[@]}" -w -fsanitize=fuzzer-no-link -I"$runtime" -I"$WORK" -c "$WORK/core.c" -o "$WORK/core.o"
  fi
  if newer "$WORK/fuzz-core" "$HERE/harness.c" "$WORK/core.o" "$WORK/codes.h" "$WORK/wasm-rt-impl.o"; then
    echo "fuzz: linking fuzz/work/fuzz-core"
    clang "${cflags[@]}" -Wall -Wextra -fsanitize=fuzzer -I"$runtime" -I"$WORK" \
      "$HERE/harness.c" "$WORK/core.o" "$WORK/wasm-rt-impl.o" -lm -o "$WORK/fuzz-core"
  fi
}

# ---- campaign ----

stat_of() { # stat_of LOG NAME: a libFuzzer final statistic
  sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

keep_crashers() { # copies new crash inputs of a target into test/corpus/<target>/
  local target="$1" file name kept=0
  for file in "$WORK/crashes/$target"/*; do
    [[ -f "$file" ]] || continue
    name="$(basename "$file")"
    if [[ ! -f "$ROOT/test/corpus/$target/$name" ]]; then
      cp "$file" "$ROOT/test/corpus/$target/$name"
      echo "fuzz: kept $name in test/corpus/$target/ ($(wc -c < "$file") bytes): $(head -c 64 "$file" | od -An -tx1 | tr -d ' \n')"
    fi
    kept=$((kept + 1))
  done
  echo "$kept" > "$WORK/crashes/$target.count"
}

run_target() {
  local target="$1" log="$WORK/$target.log" status=0 limit
  limit="${max_len:-$(max_len_of "$target")}"
  mkdir -p "$WORK/corpus/$target" "$WORK/crashes/$target" "$ROOT/test/corpus/$target"
  echo
  echo "== $target: up to $runs runs or ${time_limit} s, max_len $limit, seed $run_seed"
  # The first corpus directory collects what the fuzzer finds (fuzz/work); the checked-in seeds
  # are only read.
  local started finished
  started="$(date +%s.%N)"
  set +e
  HSMPOOL_FUZZ_TARGET="$target" "$WORK/fuzz-core" \
    -runs="$runs" -max_total_time="$time_limit" -max_len="$limit" -seed="$run_seed" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/crashes/$target/" \
    ${extra[@]+"${extra[@]}"} "$WORK/corpus/$target" "$ROOT/test/corpus/$target" 2>&1 \
    | tee "$log" | grep -E --line-buffered "pulse|DONE|INITED|ERROR|==|hsmpool-fuzz|stat::|SUMMARY|Test unit written"
  status=${PIPESTATUS[0]}
  set -e
  finished="$(date +%s.%N)"
  keep_crashers "$target"
  local executions per_second features done_line
  executions="$(stat_of "$log" number_of_executed_units)"
  # libFuzzer's own average is whole executions per whole second; this is over wall time.
  per_second="$(awk -v n="${executions:-0}" -v a="$started" -v b="$finished" 'BEGIN { printf "%d", n / (b - a) }')"
  done_line="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  features="$(echo "$done_line" | sed -n 's/.*\(cov: [0-9]* ft: [0-9]* corp: [0-9]*\/[0-9a-zA-Z]*\).*/\1/p')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "${executions:-?}" "${per_second:-?}" "${features:-?}" \
    "$(cat "$WORK/crashes/$target.count")" "$([[ $status -eq 0 ]] && echo ok || echo "exit $status")" >> "$summary"
}

replay_target() {
  local target="$1"
  echo "== replay $target: test/corpus/$target"
  local status
  set +e
  HSMPOOL_FUZZ_TARGET="$target" "$WORK/fuzz-core" -runs=0 "$ROOT/test/corpus/$target"/* 2>&1 | grep -E "Running:|hsmpool-fuzz|ERROR|SUMMARY"
  status=${PIPESTATUS[0]}
  set -e
  [[ $status -eq 0 ]] || { echo "fuzz: replay of $target failed" >&2; return 1; }
}

install_tools
build
[[ $build_only -eq 1 ]] && { echo "fuzz: built $WORK/fuzz-core"; exit 0; }

if [[ $replay_only -eq 1 ]]; then
  failed=0
  for target in $selected; do replay_target "$target" || failed=1; done
  exit $failed
fi

run_seed="${seed:-$(date +%s)}"
summary="$WORK/summary.tsv"
: > "$summary"
echo "fuzz: targets: $selected; core ${ref:+of $(git -C "$ROOT" rev-parse --short "$ref") }sha256 $(sha256sum "$WORK/core.wasm" | cut -c1-16); seed $run_seed"
for target in $selected; do run_target "$target"; done

echo
echo "== summary (seed $run_seed; per-target logs in fuzz/work/<target>.log)"
{
  printf 'target\texecutions\texec/s (wall)\tcoverage at the end\tcrashers\tresult\n'
  cat "$summary"
} | column -t -s $'\t'
total="$(awk -F'\t' '$2 ~ /^[0-9]+$/ { sum += $2 } END { print sum + 0 }' "$summary")"
echo "total executions: $total"
if awk -F'\t' '$5 != 0 || $6 != "ok" { bad = 1 } END { exit !bad }' "$summary"; then
  echo "fuzz: crashes found; inputs are in test/corpus/<target>/crash-* (see the logs)" >&2
  exit 1
fi
exit 0
}
