#!/usr/bin/env bash
# Try mq: install what is missing, build and install mq, start a throwaway
# cluster with mq preloaded, run a short demo, and stop the cluster.
source "$(dirname "$0")/common.sh"

use_postgres
install_packages build-essential
build_and_install
start_cluster
trap stop_cluster EXIT

say "running the demo (scripts/demo.sql)"
psql -X -q -d postgres -v ON_ERROR_STOP=1 -f "$MQ_ROOT/scripts/demo.sql"
say "done; the cluster is removed"
