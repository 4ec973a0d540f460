#!/usr/bin/env bash
# Installs the dependencies, builds imcapd and runs it in the foreground with conf/imcapd.toml
# (the compiled-in defaults: ICAP on 127.0.0.1:1344 with the services /imcap and /echo, the
# archive in var/archive, the reviewer UI on http://127.0.0.1:8181/, metrics on
# http://127.0.0.1:9181/metrics, pack store in var/packs, the shipped ClamAV test database).
# Extra arguments are passed to imcapd.
# Stop it with Ctrl-C or SIGTERM.
#
# On first run the shipped signature packs (signatures/packs/) are installed into the pack
# store with imcapctl, the same way an admin installs one. A pack name the store already knows
# is left alone, so a newer version or a rollback made by an admin is never undone here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
# conf/imcapd.toml writes its access log to var/log/ relative to the working directory.
mkdir -p var/log
for pack in signatures/packs/*.toml; do
  name=$(basename "${pack}" .toml)
  if [[ ! -d var/packs/${name} ]]; then
    build/apps/imcapctl/imcapctl sigpack install "${pack}" --config conf/imcapd.toml
  fi
done
exec build/apps/imcapd/imcapd --config conf/imcapd.toml "$@"
