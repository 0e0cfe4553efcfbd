#!/usr/bin/env bash
# The "plant query" workload of docs/performance.md: five lines, each with
# the plant-month workload (input/process/output, the demo's three
# Monday-Friday shifts, DAYS days at about one detection per second per
# area), then warm latencies of /metrics/query over the last 30 days by
# line x shift x day (5 x 3 x 30 = 450 rows), by line only, and the
# single-line /metrics/oee of the same month.
#
#   cargo build --release --bin camet --example load
#   bash benches/plant-query.sh                      # MariaDB
#   BACKEND=sqlite bash benches/plant-query.sh       # the embedded default
#   SKIP_SETUP=1 END=... bash benches/plant-query.sh # measure again, same data
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}/release
BACKEND=${BACKEND:-mysql}
DAYS=${DAYS:-30}
LINES=${LINES:-5}
PORT=${CAMET_PERF_PORT:-18081}
export CAMET_RATE_LIMIT_PER_MINUTE=1000000 CAMET_LOG=warn CAMET_BIND="127.0.0.1:$PORT"
PASSWORD="perf-$(date +%s)-Query!"
BASE="http://127.0.0.1:$PORT"

if [ "$BACKEND" = sqlite ]; then
    DIR=${CAMET_PERF_DIR:-/tmp/camet-perf-query}
    export DATABASE_URL="sqlite://$DIR/camet.db"
    global() { sqlite3 "$DIR/camet.db" "$1"; }
    tenant() { sqlite3 "$DIR/camet_tenant_1.db" "$1"; }
    reset() { rm -rf "$DIR" && mkdir -p "$DIR"; }
    END_SQL="SELECT strftime('%Y-%m-%dT%H:%M:00Z', MAX(detected_at), '+1 minute') FROM detection_line_1"
else
    SERVER=${CAMET_PERF_MYSQL:-mysql://camet:camet@127.0.0.1:3306}
    export DATABASE_URL="$SERVER/camet_perfq"
    global() { mariadb -N camet_perfq -e "$1"; }
    tenant() { mariadb -N camet_perfq_tenant_1 -e "$1"; }
    reset() { mariadb -e "DROP DATABASE IF EXISTS camet_perfq; DROP DATABASE IF EXISTS camet_perfq_tenant_1"; }
    END_SQL="SELECT DATE_FORMAT(MAX(detected_at) + INTERVAL 1 MINUTE, '%Y-%m-%dT%H:%i:00Z') FROM detection_line_1"
fi

[ "${SKIP_SETUP:-0}" != 1 ] && { reset; "$TARGET/camet" demo --days 1 >/dev/null; }
echo "$PASSWORD" | "$TARGET/camet" user create --tenant-id 1 --username "perfq$PORT$RANDOM" --email perfq@example.com --role admin >/dev/null
USERNAME=$(global "SELECT username FROM app_user ORDER BY user_id DESC LIMIT 1")

"$TARGET/camet" serve --no-demo &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "$BASE/health/ready" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -fs "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
post() { curl -fs "$BASE$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$2"; }

if [ "${SKIP_SETUP:-0}" != 1 ]; then
    # Lines 2..LINES like the demo line: input, process and output areas.
    for n in $(seq 2 "$LINES"); do
        line=$(post /api/v1/production/lines "{\"line_name\":\"Perf $n\",\"line_code\":\"PERF$n\",\"downtime_threshold\":60}" \
            | sed 's/.*"line_id":\([0-9]*\).*/\1/')
        for area in "In input 1" "Mid process 2" "Out output 3"; do
            set -- $area
            post /api/v1/production/areas "{\"line_id\":$line,\"area_name\":\"$1\",\"area_type\":\"$2\",\"area_order\":$3}" >/dev/null
        done
    done
    for line in $(seq 1 "$LINES"); do
        /usr/bin/time -f "generate line $line: %e s" \
            "$TARGET/camet" generate --tenant-id 1 --line-id "$line" --days "$DAYS" --rate 1 --seed "$line" >/dev/null
    done
fi
for _ in $(seq 1 900); do
    [ "$(tenant 'SELECT COUNT(*) FROM rollup_watermark WHERE provisional = 0 AND gap_floor_us IS NOT NULL')" = "$LINES" ] && break
    sleep 1
done
END=${END:-$(tenant "$END_SQL")}
START=$(date -u -d "${END%Z} UTC - 30 days" +%Y-%m-%dT%H:%M:00Z)
echo "### $LINES lines, range $START .. $END"
LOAD=("$TARGET/examples/load" --base "$BASE" --username "$USERNAME" --password "$PASSWORD")
"${LOAD[@]}" requests --repeat "${REPEAT:-30}" \
    --post /api/v1/metrics/query "{\"start_date\":\"$START\",\"end_date\":\"$END\",\"dimensions\":[\"line\",\"shift\"],\"grain\":\"1day\"}" \
    --post /api/v1/metrics/query "{\"start_date\":\"$START\",\"end_date\":\"$END\",\"dimensions\":[\"line\"]}" \
    --post /api/v1/metrics/oee "{\"line_id\":1,\"start_date\":\"$START\",\"end_date\":\"$END\"}"
echo "rows: $(post /api/v1/metrics/query "{\"start_date\":\"$START\",\"end_date\":\"$END\",\"dimensions\":[\"line\",\"shift\"],\"grain\":\"1day\",\"measures\":[\"oee\"]}" | sed 's/.*"row_count":\([0-9]*\).*/\1/')"
