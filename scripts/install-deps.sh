#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing imcap needs.
#
# Safe to run again: when dpkg already lists every package as installed, apt is not touched at
# all. Runs non-interactively. Needs root (or sudo).
#
# Squid and c-icap are installed for the integration tests and benchmarks only; the tests start
# their own instances on ports chosen at run time. The Debian packages would otherwise start
# system services (Squid on 3128, c-icap on 1344, the port imcapd uses by default), so this
# script keeps them from starting during installation and stops any that run afterwards.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config g++
  # clang builds the libFuzzer target; libclang-rt-14-dev holds the libFuzzer and sanitizer
  # runtimes, which clang only recommends (and we install without recommends).
  clang libclang-rt-14-dev
  libboost1.81-all-dev libspdlog-dev libfmt-dev catch2 libtomlplusplus-dev libsodium-dev
  # Decoders: content codings, XML and HTML.
  zlib1g-dev libbrotli-dev libzstd-dev libpugixml-dev
  # libxml2: its HTML parser turns the HTML that Teams and others send into plain text.
  libxml2-dev
  # OpenSSL's libcrypto: SHA-256 of uploaded files with the CPU's SHA instructions, several
  # times faster than libsodium's portable code on megabyte uploads (bench/README.md).
  libssl-dev
  # Signature packs: multi-pattern matching, malware scanning, true file types. clamav gives
  # sigtool and clamscan, the references the ClamAV tests and benchmark compare against;
  # libarchive lists archive members for file rules.
  libvectorscan-dev libclamav-dev libmagic-dev libmagic-mgc clamav libarchive-dev
  # Archive (LMDB; lmdb-utils gives mdb_stat/mdb_dump for inspection) and the HTTP endpoints
  # (Prometheus metrics, reviewer UI) on libmicrohttpd.
  liblmdb-dev lmdb-utils libmicrohttpd-dev
  squid c-icap libicapapi-dev
  curl python3 ca-certificates git
  # The reviewer UI's browser test drives a real headless Chromium (through playwright-core
  # from npm, test/browser/, with the system browser: no browser download).
  chromium
)
# Node.js and npm run that browser test. Debian's packages only when no node/npm exists: a
# machine with Node.js from elsewhere (e.g. NodeSource, whose nodejs bundles npm and conflicts
# with Debian's npm) keeps it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

log() { printf 'install-deps: %s\n' "$*"; }

SUDO=()
if [[ ${EUID} -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "must run as root (or with sudo available)" >&2
    exit 1
  fi
fi

missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)
    if [[ ${status} != installed ]]; then
      printf '%s\n' "${pkg}"
    fi
  done
}

# Stops the system Squid and c-icap services if they run. Only the instances started by the
# init system are touched (found through their Debian pid files); a Squid or c-icap started
# by a test has its own pid file and is left alone.
stop_system_services() {
  local svc pidfile pid
  for svc in squid c-icap; do
    case ${svc} in
      squid) pidfile=/run/squid.pid ;;
      c-icap) pidfile=/run/c-icap/c-icap.pid ;;
    esac
    pid=""
    [[ -r ${pidfile} ]] && pid=$(tr -dc '0-9' <"${pidfile}")
    if [[ -z ${pid} ]] || ! kill -0 "${pid}" 2>/dev/null; then
      continue
    fi
    log "stopping the system ${svc} service (pid ${pid})"
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
      "${SUDO[@]}" systemctl stop "${svc}" || true
    elif [[ -x /etc/init.d/${svc} ]]; then
      "${SUDO[@]}" /etc/init.d/"${svc}" stop || true
    fi
    # Wait a bounded time, then insist.
    for _ in $(seq 50); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "${pid}" 2>/dev/null; then
      "${SUDO[@]}" kill -TERM "${pid}" 2>/dev/null || true
      for _ in $(seq 50); do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.2
      done
    fi
    if kill -0 "${pid}" 2>/dev/null; then
      log "warning: the system ${svc} (pid ${pid}) is still running" >&2
    fi
  done
}

mapfile -t MISSING < <(missing_packages)
if [[ ${#MISSING[@]} -eq 0 ]]; then
  log "all ${#PACKAGES[@]} packages already installed"
  stop_system_services
  exit 0
fi
log "installing: ${MISSING[*]}"

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o Acquire::Retries=3 -o DPkg::Lock::Timeout=300)

# A policy-rc.d that answers 101 tells invoke-rc.d / deb-systemd-invoke not to start services
# from package scripts. Only added if the machine has none, and removed afterwards.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
remove_policy() {
  if [[ ${ADDED_POLICY} -eq 1 ]]; then
    "${SUDO[@]}" rm -f "${POLICY}"
  fi
}
trap remove_policy EXIT
if [[ ! -e ${POLICY} ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "${POLICY}" >/dev/null
  "${SUDO[@]}" chmod 0755 "${POLICY}"
  ADDED_POLICY=1
fi

"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
  --no-install-recommends "${PACKAGES[@]}"

remove_policy
ADDED_POLICY=0
stop_system_services

mapfile -t STILL_MISSING < <(missing_packages)
if [[ ${#STILL_MISSING[@]} -ne 0 ]]; then
  log "still missing after apt-get install: ${STILL_MISSING[*]}" >&2
  exit 1
fi
log "done"
