#!/usr/bin/env bash
# The "plant-month" workload of docs/performance.md: the demo line
# (input/process/output, three Monday-Friday shifts) with 5 products and
# DAYS days (default 30) at about one detection per second per area, then
# warm latencies of OEE (downtime threshold of the line and 30 s), summary,
# line charts and the admin /dashboard/run over 30 days and over 365 days,
# and API ingest throughput (a backfill a month before the data: every
# batch splits the gap it lands in).
#
#   cargo build --release --bin camet --example load
#   bash benches/plant-month.sh                      # MariaDB, 30 days of data
#   BACKEND=sqlite bash benches/plant-month.sh       # the embedded default
#   DAYS=365 bash benches/plant-month.sh             # a real year of data
#   SKIP_SETUP=1 END=... bash benches/plant-month.sh # measure again, same data
#
# MariaDB: user camet/camet may create camet_perf*. SQLite: files under
# ${CAMET_PERF_DIR:-/tmp/camet-perf}.
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}/release
BACKEND=${BACKEND:-mysql}
DAYS=${DAYS:-30}
PORT=${CAMET_PERF_PORT:-18080}
export CAMET_RATE_LIMIT_PER_MINUTE=1000000 CAMET_LOG=warn CAMET_BIND="127.0.0.1:$PORT"
# The downtime job every 10 s on a setup run, so the persisted events of
# the fresh history are complete soon (and that time is measured); the
# default 900 s otherwise.
if [ "${SKIP_SETUP:-0}" != 1 ]; then export CAMET_DOWNTIME_JOB_SECS=${CAMET_DOWNTIME_JOB_SECS:-10}; fi
PASSWORD="perf-$(date +%s)-Load!"

if [ "$BACKEND" = sqlite ]; then
    DIR=${CAMET_PERF_DIR:-/tmp/camet-perf}
    export DATABASE_URL="sqlite://$DIR/camet.db"
    global() { sqlite3 "$DIR/camet.db" "$1"; }
    tenant() { sqlite3 "$DIR/camet_tenant_1.db" "$1"; }
    reset() { rm -rf "$DIR" && mkdir -p "$DIR"; }
    NOW6="strftime('%Y-%m-%d %H:%M:%f','now')"
    END_SQL="SELECT strftime('%Y-%m-%dT%H:%M:00Z', MAX(detected_at), '+1 minute') FROM detection_line_1"
else
    SERVER=${CAMET_PERF_MYSQL:-mysql://camet:camet@127.0.0.1:3306}
    export DATABASE_URL="$SERVER/camet_perf"
    global() { mariadb -N camet_perf -e "$1"; }
    tenant() { mariadb -N camet_perf_tenant_1 -e "$1"; }
    reset() { mariadb -e "DROP DATABASE IF EXISTS camet_perf; DROP DATABASE IF EXISTS camet_perf_tenant_1"; }
    NOW6="NOW(6)"
    END_SQL="SELECT DATE_FORMAT(MAX(detected_at) + INTERVAL 1 MINUTE, '%Y-%m-%dT%H:%i:00Z') FROM detection_line_1"
fi

if [ "${SKIP_SETUP:-0}" != 1 ]; then
    reset
    "$TARGET/camet" demo --days 1 >/dev/null
    # The workload has five products; the demo brings two.
    tenant "INSERT INTO product (product_name, product_code, product_weight, product_color, production_std, product_per_batch, is_active, created_at, updated_at) VALUES
        ('Producto C', 'PC', 1.10, '#f97316', 3600, 10, TRUE, $NOW6, $NOW6),
        ('Producto D', 'PD', 0.80, '#8b5cf6', 3600, 10, TRUE, $NOW6, $NOW6),
        ('Producto E', 'PE', 2.00, NULL, 3600, 10, TRUE, $NOW6, $NOW6);
        UPDATE config_version SET version = version + 1;"
    /usr/bin/time -f "generate: %e s, %M KiB peak" \
        "$TARGET/camet" generate --tenant-id 1 --line-id 1 --days "$DAYS" --rate 1 --seed 1
fi
echo "$PASSWORD" | "$TARGET/camet" user create --tenant-id 1 --username "perf$PORT$RANDOM" --email perf@example.com --role admin >/tmp/camet-perf-user.json
USERNAME=$(global "SELECT username FROM app_user ORDER BY user_id DESC LIMIT 1")

"$TARGET/camet" serve --no-demo &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
LOAD=("$TARGET/examples/load" --base "http://127.0.0.1:$PORT" --username "$USERNAME" --password "$PASSWORD")
END=${END:-$(tenant "$END_SQL")}
START30=$(date -u -d "${END%Z} UTC - 30 days" +%Y-%m-%dT%H:%M:00Z)
START365=$(date -u -d "${END%Z} UTC - 365 days" +%Y-%m-%dT%H:%M:00Z)
if [ "${SKIP_SETUP:-0}" != 1 ]; then
    # A new line right after its backfill: the first requests, cold caches,
    # while the rollup job makes its first run beside them.
    echo "### first requests after the backfill, range $START30 .. $END"
    "${LOAD[@]}" requests --repeat 5 --warmup 0 \
        --post /api/v1/metrics/oee "{\"line_id\":1,\"start_date\":\"$START30\",\"end_date\":\"$END\"}"
fi
# Wait for the rollup job's run that makes the watermark final (it checks
# once that the raw table holds nothing the rollups lack).
for _ in $(seq 1 600); do
    [ "$(tenant 'SELECT COUNT(*) FROM rollup_watermark WHERE provisional = 0 AND gap_floor_us IS NOT NULL')" = 1 ] && break
    sleep 1
done
echo "watermark: $(tenant 'SELECT watermark FROM rollup_watermark')"
echo "rows: $(tenant 'SELECT COUNT(*) FROM detection_line_1'), stored gaps: $(tenant 'SELECT COUNT(*) FROM detection_gap_1')"
if [ "${SKIP_SETUP:-0}" != 1 ]; then
    # The generated history reached the rollups as direct writes: the
    # watermark job marked it pending, and the downtime job recomputes the
    # persisted events of all of it (issue 14: events follow the data).
    FINAL=$SECONDS
    for _ in $(seq 1 1800); do
        [ "$(tenant 'SELECT COUNT(*) FROM downtime_pending')" = 0 ] && break
        sleep 1
    done
    echo "persisted events complete $((SECONDS - FINAL)) s after the watermark became final (job every ${CAMET_DOWNTIME_JOB_SECS} s): $(tenant 'SELECT COUNT(*) FROM downtime_events_1') events, $(tenant 'SELECT COUNT(*) FROM downtime_pending') spans pending"
fi

for START in "$START30" "$START365"; do
    echo "### range $START .. $END"
    # NO_LOSSES=1 for a binary older than /metrics/losses (issue 14).
    if [ "${NO_LOSSES:-0}" = 1 ]; then LOSSES=(); else
        LOSSES=(--get "/api/v1/metrics/losses?line_id=1&start_date=$START&end_date=$END"); fi
    KPI="{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\"}"
    KPI30="{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\",\"downtime_threshold\":30}"
    # 15-minute buckets over a year exceed the 10 000-bucket limit: hourly there.
    if [ "$START" = "$START30" ]; then INTERVAL=15min; else INTERVAL=1hour; fi
    CHART="{\"params\":{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\",\"interval\":\"$INTERVAL\",\"show_stops\":false}}"
    HOURLY="{\"params\":{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\",\"interval\":\"1hour\",\"show_stops\":false}}"
    RUN="{\"filters\":{\"line_id\":1,\"date_range\":{\"start_date\":\"$START\",\"end_date\":\"$END\"}}}"
    "${LOAD[@]}" requests --repeat "${REPEAT:-50}" \
        --post /api/v1/metrics/oee "$KPI" \
        --post /api/v1/metrics/oee "$KPI30" \
        --post /api/v1/metrics/summary "$KPI" \
        --post /api/v1/dashboard/widgets/1/data "$CHART" \
        --post /api/v1/dashboard/widgets/1/data "$HOURLY" \
        --post /api/v1/dashboard/widgets/2/data "{\"params\":$KPI}" \
        --post /api/v1/dashboard/widgets/6/data "{\"params\":$KPI}" \
        --post /api/v1/dashboard/run "$RUN" \
        "${LOSSES[@]}"
done
if [ "${SKIP_INGEST:-0}" != 1 ]; then
    echo "### ingest"
    "${LOAD[@]}" ingest --line-id 1 --areas 1,2,3 --products 1,2,3,4,5 --batches 40 --batch-size 10000 \
        --concurrency 4 --from "$(date -u -d "${END%Z} UTC - $((DAYS + 30)) days" +%Y-%m-%dT%H:%M:00Z)"
fi
