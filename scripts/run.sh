#!/usr/bin/env bash
# Installs the dependencies, builds imcapd and runs it in the foreground with conf/imcapd.toml
# (the compiled-in defaults: ICAP on 127.0.0.1:1344, service icap://127.0.0.1:1344/echo).
# Extra arguments are passed to imcapd. Stop it with Ctrl-C or SIGTERM.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
# conf/imcapd.toml writes its access log to var/log/ relative to the working directory.
mkdir -p var/log
exec build/apps/imcapd/imcapd --config conf/imcapd.toml "$@"
