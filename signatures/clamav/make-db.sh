#!/usr/bin/env bash
# Regenerates imcap-test.ndb with ClamAV's own sigtool. The test strings are assembled here
# rather than stored, so no file in the repository is itself a "virus" to other scanners.
set -euo pipefail
cd "$(dirname "$0")"
eicar_a='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR'
eicar_b='-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
marker='IMCAP-TEST-MALWARE-MARKER-5c1e0d7a9b'
{
  echo "Imcap.Test.EICAR:0:*:$(printf '%s%s' "$eicar_a" "$eicar_b" | sigtool --hex-dump)"
  echo "Imcap.Test.Marker:0:*:$(printf '%s' "$marker" | sigtool --hex-dump)"
} > imcap-test.ndb
sigtool --info imcap-test.ndb >/dev/null 2>&1 || true
echo "wrote $(pwd)/imcap-test.ndb"
