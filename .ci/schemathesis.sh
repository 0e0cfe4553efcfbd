#!/usr/bin/env bash
# Fuzzes the running server against its own OpenAPI document with schemathesis.
#
# Starts `camet serve` on a fresh temporary SQLite database (which seeds the demo plant and prints
# its admin login once), logs in, and runs every schemathesis phase (examples, coverage, fuzzing,
# stateful) authenticated, with a bounded number of examples per operation. Exits non-zero on any
# server error (5xx), response that breaks its schema, undocumented status or content type, or if
# the server cannot be started. Idempotent: reuses its virtualenv and the built binary.
#
# Settings (environment): ST_MAX_EXAMPLES (default 15), ST_WORKERS (1: with more, hypothesis on CPython 3.11 can fail with an internal "AST constructor recursion depth mismatch"), ST_MAX_TIME (seconds,
# default 300: the whole schemathesis run), CAMET_BIN (a built camet; default: build debug),
# ST_VENV (virtualenv; default ~/.cache/camet-schemathesis-venv), ST_REPORT_DIR (JUnit report; default none).
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES=${ST_MAX_EXAMPLES:-15}
WORKERS=${ST_WORKERS:-1}
MAX_TIME=${ST_MAX_TIME:-300}
VENV=${ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/camet-schemathesis-venv}

# schemathesis 4.x (the CLI flags below are those of 4.x).
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q 'version 4\.'; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet 'schemathesis>=4.32,<5'
fi

BIN=${CAMET_BIN:-}
if [ -z "$BIN" ]; then
    timeout 1200 cargo build --quiet --bin camet
    BIN=target/debug/camet
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

# Limits are raised so the fuzzer measures behaviour, not the limiter (tests cover the limits).
env DATABASE_URL="sqlite://$WORK/camet.db" \
    CAMET_DATA_DIR="$WORK" \
    CAMET_BIND="127.0.0.1:$PORT" \
    CAMET_EXTERNAL_APIS="$WORK/none.yml" \
    CAMET_LOG=warn \
    CAMET_ACCESS_TOKEN_TTL_SECS=7200 \
    CAMET_RATE_LIMIT_PER_MINUTE=1000000 \
    CAMET_IP_RATE_LIMIT_PER_MINUTE=1000000 \
    CAMET_LOGIN_RATE_LIMIT_PER_MINUTE=1000000 \
    CAMET_AUTH_FAILURE_LIMIT_PER_MINUTE=1000000 \
    "$BIN" serve >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!

for _ in $(seq 1 120); do
    if grep -q 'password:' "$WORK/server.out" 2>/dev/null && curl -fsS "$BASE/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "camet did not start:" >&2
        cat "$WORK/server.err" >&2
        exit 1
    fi
    sleep 0.5
done
USERNAME=$(sed -n 's/.*Log in as username: *//p' "$WORK/server.out" | head -n1)
PASSWORD=$(sed -n 's/^ *password: *//p' "$WORK/server.out" | head -n1)
if [ -z "$USERNAME" ] || [ -z "$PASSWORD" ]; then
    echo "camet did not print the demo login:" >&2
    cat "$WORK/server.out" "$WORK/server.err" >&2
    exit 1
fi
TOKEN=$(python3 - "$BASE" "$USERNAME" "$PASSWORD" <<'PY'
import json, sys, urllib.request
base, user, password = sys.argv[1:4]
request = urllib.request.Request(
    base + "/api/v1/auth/login",
    data=json.dumps({"username": user, "password": password}).encode(),
    headers={"content-type": "application/json"},
)
with urllib.request.urlopen(request, timeout=30) as response:
    print(json.load(response)["access_token"])
PY
)

REPORT=()
if [ -n "${ST_REPORT_DIR:-}" ]; then
    mkdir -p "$ST_REPORT_DIR"
    REPORT=(--report junit --report-dir "$(cd "$ST_REPORT_DIR" && pwd)")
fi

# Logout would end the token's session halfway through the run. The event
# stream never ends (its tests read it: tests/it/live.rs). Creating
# webhooks would make the server deliver to whatever host the fuzzer names,
# off this machine (tests/it/webhooks.rs covers that endpoint).
set +e
(cd "$WORK" && timeout $((MAX_TIME + 120)) "$VENV/bin/st" run "$BASE/openapi.json" \
    -H "Authorization: Bearer $TOKEN" \
    --exclude-path /api/v1/auth/logout \
    --exclude-path /api/v1/stream \
    --exclude-path /api/v1/webhooks \
    --phases examples,coverage,fuzzing,stateful \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$MAX_EXAMPLES" \
    --workers "$WORKERS" \
    --max-time "$MAX_TIME" \
    --request-timeout 30 \
    --seed 11 \
    --no-color \
    "${REPORT[@]}")
STATUS=$?
set -e
if grep -q 'panicked' "$WORK/server.err"; then
    echo "the server panicked during the run:" >&2
    grep -A3 'panicked' "$WORK/server.err" >&2
    STATUS=1
fi
exit "$STATUS"
