#!/usr/bin/env bash
# The "plant-month" workload of docs/performance.md on MariaDB: the demo line
# (input/process/output, three Monday-Friday shifts) with 5 products and 30
# days at about one detection per second per area, then API ingest
# throughput and warm latencies of OEE, summary, a 15-minute line chart and
# the admin /dashboard/run, over 30 days and over 12 months.
#
#   cargo build --release --bin camet --example load
#   bash benches/plant-month.sh            # prints markdown tables
#
# Needs a MariaDB/MySQL server where user camet/camet may create camet_perf*.
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}/release
SERVER=${CAMET_PERF_MYSQL:-mysql://camet:camet@127.0.0.1:3306}
PORT=${CAMET_PERF_PORT:-18080}
export DATABASE_URL="$SERVER/camet_perf"
export CAMET_RATE_LIMIT_PER_MINUTE=1000000 CAMET_LOG=warn CAMET_BIND="127.0.0.1:$PORT"
PASSWORD="perf-$(date +%s)-Load!"

if [ "${SKIP_SETUP:-0}" != 1 ]; then
    mariadb -e "DROP DATABASE IF EXISTS camet_perf; DROP DATABASE IF EXISTS camet_perf_tenant_1"
    "$TARGET/camet" demo --days 1 >/dev/null
    # The workload has five products; the demo brings two.
    mariadb camet_perf_tenant_1 -e "INSERT INTO product (product_name, product_code, product_weight, product_color, production_std, product_per_batch, is_active, created_at, updated_at) VALUES
        ('Producto C', 'PC', 1.10, '#f97316', 3600, 10, TRUE, NOW(6), NOW(6)),
        ('Producto D', 'PD', 0.80, '#8b5cf6', 3600, 10, TRUE, NOW(6), NOW(6)),
        ('Producto E', 'PE', 2.00, NULL, 3600, 10, TRUE, NOW(6), NOW(6));
        UPDATE config_version SET version = version + 1;"
    /usr/bin/time -f "generate: %e s, %M KiB peak" \
        "$TARGET/camet" generate --tenant-id 1 --line-id 1 --days 30 --rate 1 --seed 1
fi
echo "$PASSWORD" | "$TARGET/camet" user create --tenant-id 1 --username "perf$PORT$RANDOM" --email perf@example.com --role admin >/tmp/camet-perf-user.json
USERNAME=$(mariadb -N camet_perf -e "SELECT username FROM app_user ORDER BY user_id DESC LIMIT 1")

"$TARGET/camet" serve --no-demo &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
# Wait for the rollup job's first run (it folds in the whole history once).
for _ in $(seq 1 600); do
    [ "$(mariadb -N camet_perf_tenant_1 -e 'SELECT COUNT(*) FROM rollup_watermark')" = 1 ] && break
    sleep 1
done
mariadb -N camet_perf_tenant_1 -e "SELECT CONCAT('watermark: ', watermark) FROM rollup_watermark"
mariadb -N camet_perf_tenant_1 -e "SELECT CONCAT('rows: ', COUNT(*)) FROM detection_line_1"

LOAD=("$TARGET/examples/load" --base "http://127.0.0.1:$PORT" --username "$USERNAME" --password "$PASSWORD")
END=${END:-$(mariadb -N camet_perf_tenant_1 -e "SELECT DATE_FORMAT(MAX(detected_at) + INTERVAL 1 MINUTE, '%Y-%m-%dT%H:%i:00Z') FROM detection_line_1")}
START30=$(date -u -d "${END%Z} UTC - 30 days" +%Y-%m-%dT%H:%M:00Z)
START365=$(date -u -d "${END%Z} UTC - 365 days" +%Y-%m-%dT%H:%M:00Z)
for START in "$START30" "$START365"; do
    echo "### range $START .. $END"
    KPI="{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\"}"
    # 15-minute buckets over a year exceed the 10 000-bucket limit: hourly there.
    if [ "$START" = "$START30" ]; then INTERVAL=15min; else INTERVAL=1hour; fi
    CHART="{\"params\":{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\",\"interval\":\"$INTERVAL\",\"show_stops\":false}}"
    HOURLY="{\"params\":{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\",\"interval\":\"1hour\",\"show_stops\":false}}"
    RUN="{\"filters\":{\"line_id\":1,\"date_range\":{\"start_date\":\"$START\",\"end_date\":\"$END\"}}}"
    "${LOAD[@]}" requests --repeat "${REPEAT:-50}" \
        --post /api/v1/metrics/oee "$KPI" \
        --post /api/v1/metrics/summary "$KPI" \
        --post /api/v1/dashboard/widgets/1/data "$CHART" \
        --post /api/v1/dashboard/widgets/1/data "$HOURLY" \
        --post /api/v1/dashboard/widgets/2/data "{\"params\":$KPI}" \
        --post /api/v1/dashboard/widgets/6/data "{\"params\":$KPI}" \
        --post /api/v1/dashboard/run "$RUN"
done
echo "### ingest"
"${LOAD[@]}" ingest --line-id 1 --areas 1,2,3 --products 1,2,3,4,5 --batches 40 --batch-size 10000 \
    --concurrency 4 --from "$(date -u -d "${END%Z} UTC + 1 day" +%Y-%m-%dT%H:%M:00Z)"
