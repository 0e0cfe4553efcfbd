#!/usr/bin/env bash
# The live benchmark of docs/performance.md: two instances on one MariaDB
# database and one Redis; batches posted to the first, the time until their
# `production` event arrives on a stream held on the second; then 1000 idle
# streams on the second and its RSS before and after.
#
#   cargo build --release --bin camet --example live_load
#   bash benches/live.sh
#   BACKEND=sqlite bash benches/live.sh   # one SQLite file shared by both
#
# MariaDB: user camet/camet may create camet_live_perf*. Redis at
# ${CAMET_REDIS_URL:-redis://127.0.0.1:6379}.
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}/release
BACKEND=${BACKEND:-mysql}
BATCHES=${BATCHES:-300}
IDLE=${IDLE:-1000}
ulimit -n 65536 2>/dev/null || ulimit -n 4096
# One tenant holds the 1000 idle streams: its cap is raised for the measurement.
export CAMET_RATE_LIMIT_PER_MINUTE=1000000 CAMET_IP_RATE_LIMIT_PER_MINUTE=1000000 CAMET_LOG=warn CAMET_STREAMS_PER_TENANT=5000
export CAMET_REDIS_URL=${CAMET_REDIS_URL:-redis://127.0.0.1:6379}
export CAMET_REDIS_PREFIX="live-perf-$$"
PASSWORD="perf-$(date +%s)-Live!"
if [ "$BACKEND" = sqlite ]; then
    DIR=${CAMET_PERF_DIR:-/tmp/camet-live-perf}
    rm -rf "$DIR" && mkdir -p "$DIR"
    export DATABASE_URL="sqlite://$DIR/camet.db" CAMET_DATA_DIR="$DIR"
    global() { sqlite3 "$DIR/camet.db" "$1"; }
else
    SERVER=${CAMET_PERF_MYSQL:-mysql://camet:camet@127.0.0.1:3306}
    mariadb -e "DROP DATABASE IF EXISTS camet_live_perf; DROP DATABASE IF EXISTS camet_live_perf_tenant_1"
    export DATABASE_URL="$SERVER/camet_live_perf" CAMET_DATA_DIR=/tmp/camet-live-perf-data
    mkdir -p "$CAMET_DATA_DIR"
    global() { mariadb -N camet_live_perf -e "$1"; }
fi
"$TARGET/camet" demo --days 1 >/dev/null
echo "$PASSWORD" | "$TARGET/camet" user create --tenant-id 1 --username "liveperf" --email perf@example.com --role admin >/dev/null
CAMET_BIND=127.0.0.1:18081 "$TARGET/camet" serve --no-demo &
FIRST=$!
CAMET_BIND=127.0.0.1:18082 "$TARGET/camet" serve --no-demo &
SECOND=$!
trap 'kill $FIRST $SECOND 2>/dev/null || true' EXIT
for port in 18081 18082; do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
done
nproc; grep -m1 'model name' /proc/cpuinfo || true
"$TARGET/examples/live_load" --ingest http://127.0.0.1:18081 --stream http://127.0.0.1:18082 \
    --username liveperf --password "$PASSWORD" --line-id 1 --input-area 1 --output-area 3 --product-id 1 \
    --batches "$BATCHES" --idle-streams "$IDLE" --server-pid "$SECOND"
