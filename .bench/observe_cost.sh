#!/usr/bin/env bash
# What the decision record, health aggregates, live updates and metrics cost: the delivery
# benchmark (.bench/delivery_side_by_side.py) alternating `execution.observe` on and off in one
# run, REPS pairs (default 2). `pg` runs each on a scratch PostgreSQL database.
#
#   .bench/observe_cost.sh [pg]     (needs target/release/switchyard, python3 + aiohttp; psql for pg)
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
for _ in $(seq 1 "${REPS:-2}"); do
    for observe in true false; do
        args=()
        if [ "${1:-}" = pg ]; then
            db="sy_bench_obs_$$_$RANDOM"
            psql "$PGURL/postgres" -qc "CREATE DATABASE $db"
            args=(--database-url "$PGURL/$db")
        fi
        out=$(SWITCHYARD_OBSERVE=$observe python3 .bench/delivery_side_by_side.py switchyard \
            target/release/switchyard . "${args[@]}" 2>/dev/null | tail -n 1)
        echo "observe=$observe $out"
        if [ "${1:-}" = pg ]; then
            psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $db" || true
        fi
    done
done
