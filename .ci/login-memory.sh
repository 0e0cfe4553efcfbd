#!/usr/bin/env bash
# Login-flood memory check (issue 11 item 4): 1 000 failed logins, 10 at a
# time, against a release build with the default Argon2id settings (19 MiB,
# 2 passes) and the default hashing pool. Prints RSS before, after, 30 s later
# and the peak (VmRSS / VmHWM of /proc/PID/status) and fails if the peak
# reaches 150 MiB. Idempotent; bounded in time (flood <= 10 min).
# Usage: .ci/login-memory.sh            (builds target/release/camet if missing)
#        CAMET_BIN=path/to/camet .ci/login-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CAMET_BIN:-target/release/camet}
[ -x "$BIN" ] || cargo build --release --bin camet
command -v curl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
DIR=$(mktemp -d)
PORT=${PORT:-18089}
BASE="http://127.0.0.1:$PORT"
# Rate limits out of the way: every one of the 1 000 logins must reach Argon2.
env -u CAMET_ARGON2_MEMORY_KIB -u CAMET_ARGON2_ITERATIONS -u CAMET_ARGON2_ALLOW_WEAK \
    DATABASE_URL="sqlite://$DIR/camet.db" CAMET_DATA_DIR="$DIR" CAMET_BIND="127.0.0.1:$PORT" CAMET_LOG=warn \
    CAMET_RATE_LIMIT_PER_MINUTE=1000000 CAMET_LOGIN_RATE_LIMIT_PER_MINUTE=1000000 \
    CAMET_IP_RATE_LIMIT_PER_MINUTE=1000000 CAMET_AUTH_FAILURE_LIMIT_PER_MINUTE=1000000 \
    "$BIN" serve --no-demo >"$DIR/server.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 150); do curl -fsS "$BASE/health" >/dev/null 2>&1 && break; sleep 0.2; done
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }
BEFORE=$(kib VmRSS)
START=$(date +%s)
seq 1 1000 | timeout 600 xargs -P 10 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
    -H 'content-type: application/json' -d '{"username":"flood{}","password":"Wrong-password-1"}' \
    "$BASE/api/v1/auth/login" >"$DIR/codes"
SECS=$(( $(date +%s) - START ))
AFTER=$(kib VmRSS)
PEAK=$(kib VmHWM)
sleep 30
LATER=$(kib VmRSS)
echo "statuses: $(sort "$DIR/codes" | uniq -c | tr -s ' ' | tr '\n' ';')"
printf 'flood of 1000 failed logins, 10 concurrent, %ss: RSS before %s MiB, after %s MiB, 30 s later %s MiB, peak %s MiB\n' \
    "$SECS" $((BEFORE / 1024)) $((AFTER / 1024)) $((LATER / 1024)) $((PEAK / 1024))
# The figure means something only if the logins reached Argon2: every answer
# is a 401 (hashed and refused) or a 503 (the pool's wait ran out), never a 429.
HASHED=$(grep -c '^401$' "$DIR/codes" || true)
OTHER=$(grep -vc '^\(401\|503\)$' "$DIR/codes" || true)
[ "$OTHER" -eq 0 ] && [ "$HASHED" -ge 900 ] || { echo "FAIL: only $HASHED of 1000 logins were hashed ($OTHER neither 401 nor 503)" >&2; exit 1; }
[ "$PEAK" -lt $((150 * 1024)) ] || { echo "FAIL: peak RSS reached 150 MiB" >&2; exit 1; }
