#!/usr/bin/env bash
# Echo benchmark, imcapd vs c-icap (srv_echo): see bench/README.md. All options are passed to
# run_echo_bench.py (--help lists them). Expects build/bench/icap_load and
# build/apps/imcapd/imcapd, or ICAP_LOAD / IMCAPD / IMCAP_BUILD_DIR in the environment.
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/run_echo_bench.py" "$@"
