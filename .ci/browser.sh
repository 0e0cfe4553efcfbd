#!/usr/bin/env bash
# The example dashboard (examples/dashboard/) in a real browser: Debian's
# Chromium driven by playwright-core against a running Camet with the demo
# plant. Fails unless every widget of the admin layout drew (chart canvases
# not blank, KPI values, table rows), the page refreshed by polling, and no
# console error appeared. Keeps the screenshot at target/dashboard-screenshot.png.
#
# Idempotent: installs chromium (apt), node/npm (apt) and the example's npm
# packages (npm ci) only when missing. Bounded: every step has a timeout.
# Settings: CAMET_BIN (a built camet; default: build debug), BROWSER_TIMEOUT
# (seconds for the browser test; default 180).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
EXAMPLE="$ROOT/examples/dashboard"
SCREENSHOT="$ROOT/target/dashboard-screenshot.png"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci only when the installed tree is not the lock file's.
if ! cmp -s "$EXAMPLE/package-lock.json" "$EXAMPLE/node_modules/.package-lock.json.ci" 2>/dev/null; then
    (cd "$EXAMPLE" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
    cp "$EXAMPLE/package-lock.json" "$EXAMPLE/node_modules/.package-lock.json.ci"
fi

BIN=${CAMET_BIN:-}
if [ -z "$BIN" ]; then
    timeout 1200 cargo build --quiet --bin camet
    BIN=target/debug/camet
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
TIMEOUT=${BROWSER_TIMEOUT:-180}
API_PORT=$(free_port)
PAGE_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
PAGE="http://127.0.0.1:$PAGE_PORT"

# The page is served from another origin, as a real dashboard would be: CORS lets it in.
# Limits are raised so polling every 1.5 s measures the page, not the limiter.
env DATABASE_URL="sqlite://$WORK/camet.db" \
    CAMET_DATA_DIR="$WORK" \
    CAMET_BIND="127.0.0.1:$API_PORT" \
    CAMET_CORS_ORIGINS="$PAGE" \
    CAMET_EXTERNAL_APIS="$WORK/none.yml" \
    CAMET_LOG=warn \
    CAMET_RATE_LIMIT_PER_MINUTE=100000 \
    CAMET_IP_RATE_LIMIT_PER_MINUTE=100000 \
    CAMET_LOGIN_RATE_LIMIT_PER_MINUTE=100000 \
    "$BIN" serve >"$WORK/server.out" 2>"$WORK/server.err" &
PIDS+=($!)
timeout $((TIMEOUT + 120)) python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$EXAMPLE" \
    >"$WORK/page.log" 2>&1 &
PIDS+=($!)

ready=
for _ in $(seq 1 120); do
    if grep -q 'password:' "$WORK/server.out" 2>/dev/null && curl -fsS "$API/health" >/dev/null 2>&1 \
        && curl -fsS "$PAGE/index.html" >/dev/null 2>&1; then
        ready=1
        break
    fi
    if ! kill -0 "${PIDS[0]}" 2>/dev/null; then
        break
    fi
    sleep 0.5
done
if [ -z "$ready" ]; then
    echo "camet or the page server did not start:" >&2
    cat "$WORK/server.err" "$WORK/page.log" >&2
    exit 1
fi
USERNAME=$(sed -n 's/.*Log in as username: *//p' "$WORK/server.out" | head -n1)
PASSWORD=$(sed -n 's/^ *password: *//p' "$WORK/server.out" | head -n1)

mkdir -p "$(dirname "$SCREENSHOT")"
rm -f "$SCREENSHOT"
(cd "$EXAMPLE" && CAMET_URL="$API" PAGE_URL="$PAGE" CAMET_USERNAME="$USERNAME" CAMET_PASSWORD="$PASSWORD" \
    SCREENSHOT="$SCREENSHOT" TEST_TIMEOUT_MS=$(( (TIMEOUT - 30) * 1000 / 3 )) \
    timeout "$TIMEOUT" node test/browser.mjs)
if grep -q 'panicked' "$WORK/server.err"; then
    echo "the server panicked during the browser test:" >&2
    grep -A3 'panicked' "$WORK/server.err" >&2
    exit 1
fi
[ -s "$SCREENSHOT" ] || { echo "no screenshot at $SCREENSHOT" >&2; exit 1; }
echo "screenshot: $SCREENSHOT"
