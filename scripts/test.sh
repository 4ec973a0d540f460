#!/usr/bin/env bash
# Installs the dependencies, then builds and runs every test stage:
#
#   build, ctest        RelWithDebInfo build in build/; every registered test (unit,
#                       integration with real Squid and c-icap-client, ...)
#   asan build, ctest   ASan+UBSan Debug build in build-asan/; the tests labelled "unit"
#   fuzz build, fuzz    (only when clang++ exists) libFuzzer build of the fuzz targets in
#                       build-fuzz/; runs the ICAP parser fuzzer on a copy of
#                       test/fuzz/corpus/icap_parser, the decoders and reply hooks fuzzer on
#                       seeds made from test/modules/fixtures, then the archive record codec
#                       fuzzer, each for IMCAP_FUZZ_SECONDS (default 60)
#
# A failing stage does not stop the script: the later independent stages still run, a summary
# lists every stage, and the exit status is non-zero if any stage failed.
# Environment: CI (set: warnings are errors), IMCAP_FUZZ_SECONDS.
# Stage functions are called through stage() / env, which shellcheck cannot follow:
# shellcheck disable=SC2317
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

FUZZ_SECONDS=${IMCAP_FUZZ_SECONDS:-60}
WERROR=OFF
if [[ -n ${CI:-} ]]; then
  WERROR=ON
fi

STAGE_NAMES=()
STAGE_RESULTS=()
CTEST_SUMMARIES=()
FAILED=0

record() { # name result
  STAGE_NAMES+=("$1")
  STAGE_RESULTS+=("$2")
  if [[ $2 == FAIL* ]]; then
    FAILED=1
  fi
}

banner() { printf '\n===== %s =====\n' "$*"; }

# Runs "$@" as stage $1; returns the command's status.
stage() {
  local name=$1
  shift
  banner "${name}"
  if "$@"; then
    record "${name}" PASS
    return 0
  fi
  record "${name}" FAIL
  return 1
}

skip() { # name reason
  banner "$1"
  echo "skipped: $2"
  record "$1" "SKIP ($2)"
}

# ctest with its output kept in a log, so the summary lines can be printed again at the end.
run_ctest() { # build_dir log_name ctest-args...
  local dir=$1 logname=$2
  shift 2
  local logfile=${dir}/${logname}
  local rc
  ctest --test-dir "${dir}" --output-on-failure --no-tests=error "$@" 2>&1 | tee "${logfile}"
  rc=${PIPESTATUS[0]}
  local lines
  lines=$(grep -E 'tests passed|tests failed out of|No tests were found|The following tests FAILED' \
    "${logfile}" || true)
  CTEST_SUMMARIES+=("${dir}: ${lines:-no ctest summary line (see ${logfile})}")
  # The names of failed tests follow the "FAILED:" line, one per line, indented.
  local failed
  failed=$(sed -n '/The following tests FAILED/,$p' "${logfile}" | sed -n '2,$p' | grep -E '^\s+[0-9]+ - ' || true)
  if [[ -n ${failed} ]]; then
    CTEST_SUMMARIES+=("${failed}")
  fi
  return "${rc}"
}

build_dir() { # dir cmake-args...
  local dir=$1
  shift
  cmake -S . -B "${dir}" -G Ninja "$@" && cmake --build "${dir}" -j2
}

fuzz_run() {
  local target=build-fuzz/test/fuzz/icap_parser_fuzz
  local corpus_src=test/fuzz/corpus/icap_parser
  local corpus=build-fuzz/fuzz-corpus/icap_parser
  local artifacts=build-fuzz/fuzz-artifacts/
  if [[ ! -x ${target} ]]; then
    echo "fuzz target ${target} is missing"
    return 1
  fi
  if [[ ! -d ${corpus_src} ]] || [[ -z $(ls -A "${corpus_src}") ]]; then
    echo "fuzz corpus ${corpus_src} is missing or empty"
    return 1
  fi
  # The fuzzer adds new inputs to its corpus directory: give it a copy, never the source tree.
  rm -rf "${corpus}"
  mkdir -p "${corpus}" "${artifacts}"
  cp -a "${corpus_src}/." "${corpus}/"
  "${target}" -max_total_time="${FUZZ_SECONDS}" -rss_limit_mb=2048 \
    -artifact_prefix="${artifacts}" -print_final_stats=1 "${corpus}"
}

# The decoders fuzzer: seeds are written from the fixture files on every run (one per decoder
# and .http file), so new fixtures and new decoders are covered without a checked-in corpus;
# the inputs of fixed bugs are added from test/fuzz/corpus/modules_decoders.
fuzz_modules_run() {
  local target=build-fuzz/test/fuzz/modules_decoders_fuzz
  local corpus=build-fuzz/fuzz-corpus/modules_decoders
  local regressions=test/fuzz/corpus/modules_decoders
  local artifacts=build-fuzz/fuzz-artifacts/modules_decoders/
  if [[ ! -x ${target} ]]; then
    echo "fuzz target ${target} is missing"
    return 1
  fi
  rm -rf "${corpus}"
  mkdir -p "${artifacts}"
  python3 test/fuzz/make_modules_corpus.py "${corpus}" || return 1
  if [[ -d ${regressions} ]]; then
    cp -a "${regressions}/." "${corpus}/"
  fi
  "${target}" -max_total_time="${FUZZ_SECONDS}" -rss_limit_mb=2048 \
    -artifact_prefix="${artifacts}" -print_final_stats=1 "${corpus}"
}

# The archive record codec fuzzer: seeds written by the target itself from the current encoder
# (IMCAP_ARCHIVE_SEEDS), plus the checked-in regression inputs.
fuzz_archive_run() {
  local target=build-fuzz/test/fuzz/archive_codec_fuzz
  local corpus_src=test/fuzz/corpus/archive_codec
  local corpus=build-fuzz/fuzz-corpus/archive_codec
  local artifacts=build-fuzz/fuzz-artifacts/archive_codec/
  if [[ ! -x ${target} ]]; then
    echo "fuzz target ${target} is missing"
    return 1
  fi
  rm -rf "${corpus}"
  mkdir -p "${corpus}" "${artifacts}"
  if [[ -d ${corpus_src} ]]; then
    cp -a "${corpus_src}/." "${corpus}/"
  fi
  IMCAP_ARCHIVE_SEEDS="${corpus}" "${target}" || return 1
  "${target}" -max_total_time="${FUZZ_SECONDS}" -rss_limit_mb=2048 \
    -artifact_prefix="${artifacts}" -print_final_stats=1 "${corpus}"
}

# --- dependencies -------------------------------------------------------------------------
if ! stage "install dependencies" bash scripts/install-deps.sh; then
  echo "continuing: the build will show what is missing"
fi

# --- main build + every registered test -----------------------------------------------------
if stage "build (RelWithDebInfo)" build_dir build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DIMCAP_WERROR="${WERROR}"; then
  stage "ctest (all tests)" run_ctest build ctest-all.log -j2
else
  skip "ctest (all tests)" "build failed"
fi

# --- sanitizers -----------------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=${PWD}/test/sanitizers/lsan.supp}
if stage "build (ASan+UBSan)" build_dir build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DIMCAP_SANITIZE=ON -DIMCAP_BUILD_BENCH=OFF -DIMCAP_WERROR="${WERROR}"; then
  stage "ctest -L unit (ASan+UBSan)" run_ctest build-asan ctest-unit.log -L unit -j2
else
  skip "ctest -L unit (ASan+UBSan)" "build failed"
fi

# --- fuzzing --------------------------------------------------------------------------------
if command -v clang++ >/dev/null 2>&1; then
  # Only the fuzz targets are built: they need the protocol, modules and archive libraries
  # alone, and clang 14 cannot assemble the coroutine-heavy server code with sanitizer
  # instrumentation ("Cannot represent a difference across sections"), which GCC builds cover
  # anyway.
  if stage "build (libFuzzer)" env CC=clang CXX=clang++ bash -c \
    'cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMCAP_FUZZ=ON -DIMCAP_BUILD_BENCH=OFF && cmake --build build-fuzz -j2 --target icap_parser_fuzz modules_decoders_fuzz archive_codec_fuzz'; then
    stage "fuzz icap_parser (${FUZZ_SECONDS}s)" fuzz_run
    stage "fuzz modules_decoders (${FUZZ_SECONDS}s)" fuzz_modules_run
    stage "fuzz archive_codec (${FUZZ_SECONDS}s)" fuzz_archive_run
  else
    skip "fuzz icap_parser (${FUZZ_SECONDS}s)" "build failed"
    skip "fuzz modules_decoders (${FUZZ_SECONDS}s)" "build failed"
    skip "fuzz archive_codec (${FUZZ_SECONDS}s)" "build failed"
  fi
else
  skip "build (libFuzzer)" "clang++ not found"
  skip "fuzz icap_parser (${FUZZ_SECONDS}s)" "clang++ not found"
  skip "fuzz modules_decoders (${FUZZ_SECONDS}s)" "clang++ not found"
  skip "fuzz archive_codec (${FUZZ_SECONDS}s)" "clang++ not found"
fi

# --- summary --------------------------------------------------------------------------------
banner "summary"
for i in "${!STAGE_NAMES[@]}"; do
  printf '%-36s %s\n' "${STAGE_NAMES[$i]}" "${STAGE_RESULTS[$i]}"
done
if [[ ${#CTEST_SUMMARIES[@]} -gt 0 ]]; then
  echo
  echo "ctest summaries:"
  printf '%s\n' "${CTEST_SUMMARIES[@]}"
fi
echo
if [[ ${FAILED} -ne 0 ]]; then
  echo "RESULT: FAIL"
  exit 1
fi
echo "RESULT: PASS"
exit 0
