#!/usr/bin/env bash
# Cost per delivered event on PostgreSQL: commits, rows inserted/updated/read (pg_stat_database
# of a scratch database, idle polling subtracted) and CPU seconds of the switchyard process, of
# PostgreSQL and of the load client. One webhook workflow, N single-event POSTs (default 300,
# as the engine issue measured), 16 clients.
#
#   .bench/cost.sh [BIN]        (default target/release/switchyard; needs psql, python3 + aiohttp)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/switchyard}")
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
N=${N:-300}
DB="sy_cost_$$"
WORK=$(mktemp -d)
trap 'psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
psql "$PGURL/postgres" -qc "CREATE DATABASE $DB"

stats() {
    psql "$PGURL/postgres" -Atc "SELECT xact_commit, tup_inserted, tup_updated, tup_returned, tup_fetched
        FROM pg_stat_database WHERE datname = '$DB'"
}
# CPU (user+system, clock ticks) of every PostgreSQL backend serving $DB, live or exited:
# exited backends are counted through their parent's cutime/cstime.
pg_ticks() {
    local total=0 pid
    for pid in $(pgrep -x postgres || true); do
        read -r u s cu cs < <(awk '{print $14, $15, $16, $17}' "/proc/$pid/stat" 2>/dev/null || echo "0 0 0 0")
        total=$((total + u + s + cu + cs))
    done
    echo $total
}
TICK=$(getconf CLK_TCK)

# Idle: the server on the database for 10 s with nothing to do (queue polling only).
"$BIN" serve --listen 127.0.0.1:0 --database-url "$PGURL/$DB" --data-dir "$WORK/idle" > "$WORK/idle.log" 2>&1 &
IDLE=$!
sleep 3
read -r c0 i0 u0 r0 f0 < <(stats | tr '|' ' ')
sleep 10
read -r c1 i1 u1 r1 f1 < <(stats | tr '|' ' ')
kill "$IDLE"; wait "$IDLE" || true
idle_commits_per_s=$(echo "($c1 - $c0) / 10" | bc -l)
idle_returned_per_s=$(echo "($r1 - $r0) / 10" | bc -l)

read -r c0 i0 u0 r0 f0 < <(stats | tr '|' ' ')
pg0=$(pg_ticks)
t0=$(date +%s.%N)
N=$N R=10 S=1 /usr/bin/time -f "CPU %U %S" -o "$WORK/client.cpu" \
    python3 .bench/delivery_side_by_side.py switchyard "$BIN" "$PWD" --database-url "$PGURL/$DB" > "$WORK/result.json" &
CLIENT=$!
# The server's CPU time, sampled until it exits (the client stops it at the end).
su=0
while kill -0 "$CLIENT" 2>/dev/null; do
    pid=$(pgrep -f "serve --listen .*$DB" | head -n1 || true)
    if [ -n "$pid" ]; then
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "")
        [ -n "$t" ] && su=$t
    fi
    sleep 0.1
done
wait "$CLIENT"
t1=$(date +%s.%N)
pg1=$(pg_ticks)
read -r c1 i1 u1 r1 f1 < <(stats | tr '|' ' ')
cat "$WORK/result.json"
delivered=$(python3 -c "import json; print(json.load(open('$WORK/result.json'))['distinct_delivered'])")
secs=$(echo "$t1 - $t0" | bc -l)
read -r _ cu cs < <(grep "^CPU" "$WORK/client.cpu")
python3 - "$delivered" "$secs" "$idle_commits_per_s" "$idle_returned_per_s" \
    "$c0" "$c1" "$i0" "$i1" "$u0" "$u1" "$r0" "$r1" "$f0" "$f1" "$su" "$cu" "$cs" "$pg0" "$pg1" "$TICK" <<'PY'
import sys
a = sys.argv[1:]
d, secs, idle_c, idle_r = int(a[0]), float(a[1]), float(a[2]), float(a[3])
c0, c1, i0, i1, u0, u1, r0, r1, f0, f1 = map(int, a[4:14])
su = int(a[14]) / int(a[19])
cu, cs = map(float, a[15:17])
pg0, pg1, tick = int(a[17]), int(a[18]), int(a[19])
commits = (c1 - c0 - idle_c * secs) / d
print(f"delivered events: {d} in {secs:.1f} s (idle polling: {idle_c:.1f} commits/s, {idle_r:.0f} rows read/s)")
print(f"per delivered event: {commits:.2f} commits, {(i1 - i0) / d:.2f} rows inserted, {(u1 - u0) / d:.2f} rows updated, "
      f"{(r1 - r0 - idle_r * secs) / d:.1f} rows read (tup_returned), {(f1 - f0) / d:.1f} rows fetched (tup_fetched)")
print(f"CPU per delivered event: switchyard {su / d * 1000:.2f} ms, PostgreSQL {(pg1 - pg0) / tick / d * 1000:.2f} ms, "
      f"load client + receiver {(cu + cs) / d * 1000:.2f} ms (setup included)")
PY
