#!/usr/bin/env bash
# Statements per delivered event on PostgreSQL: pg_stat_statements over one side-by-side run
# (N single-event POSTs, default 3,000, 16 clients) on a scratch database; prints the total
# statements and execution time, then the 30 most frequent statements.
#
#   .bench/statements.sh [BIN]     (default target/release/switchyard)
#
# Needs the pg_stat_statements extension loaded (once, as a superuser):
#   ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';  -- then restart PostgreSQL
#   CREATE EXTENSION pg_stat_statements;
# It resets the statistics of the whole server.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/switchyard}")
PG=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB="sy_stm_$$"
psql "$PG/postgres" -qc "CREATE DATABASE $DB"
trap 'psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
psql "$PG/postgres" -qc "SELECT pg_stat_statements_reset()" > /dev/null
N=${N:-3000} R=10 S=1 python3 .bench/delivery_side_by_side.py switchyard "$BIN" "$PWD" \
    --database-url "$PG/$DB" 2>/dev/null | tail -n1
psql "$PG/postgres" -Atc "SELECT 'statements: ' || sum(calls) || ', execution: ' || round(sum(total_exec_time)::numeric) || ' ms'
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$DB'"
psql "$PG/postgres" -c "SELECT calls, round(total_exec_time::numeric) AS ms, rows,
    left(regexp_replace(query, '\s+', ' ', 'g'), 140) AS statement
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$DB'
    ORDER BY calls DESC LIMIT 40"
