#!/usr/bin/env bash
# Bench of the Python client against raw SQL (bench/python_client.py):
# builds and installs mq, starts a throwaway cluster, installs clients/python
# into a venv and runs the bench.
#
#   bash bench/python_client.sh [ROUNDS] [MESSAGES] [CONCURRENCY]
#   PG_CONFIG=/path/to/pg_config MQ_PORT=54329 bash bench/python_client.sh
source "$(dirname "$0")/../scripts/common.sh"

use_postgres
install_packages build-essential python3-psycopg python3-venv python3-setuptools python3-wheel
build_and_install
MQ_EXTRA_CONF="mq.maintenance_interval = 0"
start_cluster
venv=$(mktemp -d)
trap 'stop_cluster; rm -rf "$venv" "$MQ_ROOT/clients/python/build" "$MQ_ROOT"/clients/python/*.egg-info' EXIT
psql -X -q -d postgres -c "CREATE DATABASE mq_bench_py"
psql -X -q -d mq_bench_py -c "CREATE EXTENSION mq"
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q --no-build-isolation --no-index "$MQ_ROOT/clients/python"
say "PostgreSQL $PG_MAJOR, $(nproc) CPUs; bench/python_client.py $*"
PGDATABASE=mq_bench_py "$venv/bin/python" "$MQ_ROOT/bench/python_client.py" "$@"
