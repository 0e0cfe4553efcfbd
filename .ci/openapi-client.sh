#!/usr/bin/env bash
# The OpenAPI document as a client generator sees it.
#
# 1. openapi-spec-validator validates openapi/openapi.json (OpenAPI 3.0).
# 2. openapi-python-client generates a Python client from it into
#    target/openapi-client/ (no hand edits; a warning about a skipped schema
#    or operation fails the step).
# 3. `camet serve` starts on a fresh embedded database (which seeds the demo
#    plant and prints its admin login once) on a free loopback port, and
#    examples/python_client/pull_oee.py logs in, creates an API key and pulls
#    OEE with that key, using only the generated client.
#
# Idempotent (reuses its virtualenv and the built binary) and bounded: every
# install, the generation, the start and the script have a timeout.
# Settings (environment): CAMET_BIN (a built camet; default: build debug),
# OPENAPI_CLIENT_VENV (default ~/.cache/camet-openapi-client-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${OPENAPI_CLIENT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/camet-openapi-client-venv}
GENERATOR_VERSION=0.29.1
VALIDATOR_VERSION=0.9.0

if ! "$VENV/bin/openapi-python-client" --version 2>/dev/null | grep -q "version: $GENERATOR_VERSION\$" \
    || ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('openapi-spec-validator') == '$VALIDATOR_VERSION'" 2>/dev/null; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet \
        "openapi-python-client==$GENERATOR_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION"
fi

echo "validating openapi/openapi.json"
timeout 120 "$VENV/bin/openapi-spec-validator" openapi/openapi.json

OUT=target/openapi-client
rm -rf "$OUT"
mkdir -p "$OUT"
# No post hooks: the generated code is used as generated (ruff is not needed).
printf 'post_hooks: []\n' >"$OUT/config.yml"
echo "generating the Python client into $OUT"
timeout 300 "$VENV/bin/openapi-python-client" generate \
    --path openapi/openapi.json \
    --meta none \
    --config "$OUT/config.yml" \
    --output-path "$OUT/camet_analytics_api_client" 2>&1 | tee "$OUT/generate.log"
# The generator reports what it could not turn into code and carries on.
if grep -qiE 'unable to|removal of|skipping|warning' "$OUT/generate.log"; then
    echo "openapi-python-client could not generate every schema and operation (see above)" >&2
    exit 1
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
env DATABASE_URL="sqlite://$WORK/camet.db" \
    CAMET_DATA_DIR="$WORK" \
    CAMET_BIND="127.0.0.1:$PORT" \
    CAMET_EXTERNAL_APIS="$WORK/none.yml" \
    CAMET_LOG=warn \
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
LINE_ID=$(sed -n 's/.*Demo plant created (tenant [0-9]*, line \([0-9]*\),.*/\1/p' "$WORK/server.out" | head -n1)
if [ -z "$USERNAME" ] || [ -z "$PASSWORD" ] || [ -z "$LINE_ID" ]; then
    echo "camet did not print the demo plant and login:" >&2
    cat "$WORK/server.out" "$WORK/server.err" >&2
    exit 1
fi

echo "pulling OEE through the generated client"
PYTHONPATH="$OUT" timeout 120 "$VENV/bin/python" examples/python_client/pull_oee.py \
    --base-url "$BASE" --username "$USERNAME" --password "$PASSWORD" --line-id "$LINE_ID"
