#!/usr/bin/env bash
# Runs the reviewer UI browser test: installs playwright-core (pinned in package-lock.json,
# `npm ci`, no browser download) into WORK_DIR, then drives the system Chromium against the
# test server. Screenshots go to WORK_DIR/screenshots.
#
#   run.sh SERVER_BINARY WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
server=$(realpath "$1")
work=$(realpath -m "$2")
for tool in node npm; do
  command -v "${tool}" >/dev/null 2>&1 || { echo "browser test: ${tool} not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || { echo "browser test: ${CHROMIUM:-/usr/bin/chromium} not found (scripts/install-deps.sh installs chromium)" >&2; exit 1; }
mkdir -p "${work}"
cp "${here}/package.json" "${here}/package-lock.json" "${here}/webui_e2e.mjs" "${work}/"
cd "${work}"
# npm ci only when the lock file changed since the last install.
if ! cmp -s package-lock.json node_modules/.imcap-lock 2>/dev/null; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.imcap-lock
fi
exec node webui_e2e.mjs "${server}" "${work}/screenshots"
