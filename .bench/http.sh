#!/usr/bin/env bash
# Issue 2 benchmark: start-up to /readyz on an empty SQLite database; templates(first: 20) at
# 32 concurrent connections with wrk, side by side with a trivial axum server answering the
# same bytes from memory; resident memory idle and under load.
# Needs: cargo build --release -p api --examples; apt-get install wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/switchyard
DIR=$(mktemp -d)
PORT=18480
BASE_PORT=18481
DURATION=${DURATION:-20s}

start_ns=$(date +%s%N)
$BIN --data-dir "$DIR" serve --listen 127.0.0.1:$PORT > "$DIR/serve.log" 2>&1 &
PID=$!
trap 'kill $PID $BPID 2>/dev/null || true; rm -rf "$DIR"' EXIT
until curl -fs http://127.0.0.1:$PORT/readyz > /dev/null 2>&1; do sleep 0.005; done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
echo "start-up to /readyz OK (empty SQLite, migrations + seed): ${ready_ms} ms"

TOKEN=$($BIN --data-dir "$DIR" token --sub bench --role marketer)
QUERY='{"query":"{ templates(first: 20) { edges { cursor node { key name summary category owner lifecycle latestVersion } } pageInfo { hasNextPage endCursor } } }"}'
curl -s http://127.0.0.1:$PORT/graphql -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$QUERY" > "$DIR/response.json"
echo "response: $(wc -c < "$DIR/response.json") bytes"
sleep 1
echo "RSS idle: $(grep VmRSS /proc/$PID/status | awk '{print $2, $3}')"

cat > "$DIR/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$QUERY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

target/release/examples/static_bytes 127.0.0.1:$BASE_PORT "$DIR/response.json" > /dev/null &
BPID=$!
sleep 0.5

echo "--- switchyard: templates(first: 20), 32 connections, $DURATION"
( sleep 10; echo "RSS under load: $(grep VmRSS /proc/$PID/status | awk '{print $2, $3}')" ) &
RSSPID=$!
wrk -t2 -c32 -d"$DURATION" --latency -s "$DIR/post.lua" http://127.0.0.1:$PORT/graphql | grep -E "Requests/sec|50%|99%|Latency|Non-2xx"
wait $RSSPID
echo "--- trivial axum handler, same bytes from memory"
wrk -t2 -c32 -d"$DURATION" --latency -s "$DIR/post.lua" http://127.0.0.1:$BASE_PORT/graphql | grep -E "Requests/sec|50%|99%|Latency"
