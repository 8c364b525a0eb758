#!/usr/bin/env bash
# The cost of pgmq's API through the pgmq extension (doc/pgmq.md) against the
# same work on plain mq, on one throwaway server: send, read (a lease),
# read + delete and read + archive (the consume cycle), each a pgbench
# script of one statement, -M prepared, pgmq and mq alternating, the median
# of BENCH_RUNS runs (each side going first in turn).  Each read case has a queue of its own, filled first.
#
#   bash bench/pgmq.sh      # as root; BENCH_TRANSACTIONS=20000 (a client, a run) BENCH_RUNS=5 BENCH_CLIENTS=2 by default
#   PG_CONFIG=/path/to/pg_config bash bench/pgmq.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
source "$(dirname "$0")/common.sh"
MQ_PORT=${BENCH_PORT:-54351}
MQ_CLUSTER=/tmp/mq-bench-pgmq-$MQ_PORT
TRANSACTIONS=${BENCH_TRANSACTIONS:-20000}
RUNS=${BENCH_RUNS:-5}
CLIENTS=${BENCH_CLIENTS:-2}
# what the consume cases drain, and a tenth more: a run never finds a queue empty
MESSAGES=$(( (TRANSACTIONS * CLIENTS * RUNS * 11 / 10 + 4999) / 5000 * 5000 ))

use_postgres
install_packages build-essential
build_and_install
MQ_EXTRA_CONF="shared_buffers = '1GB'
synchronous_commit = off
max_wal_size = '4GB'
mq.maintenance_interval = 0"
start_cluster
trap stop_cluster EXIT

psql -X -q -d postgres -c "CREATE DATABASE bench"
psql -X -q -v ON_ERROR_STOP=1 -d bench -c "CREATE EXTENSION pgmq CASCADE" \
	-c "SELECT pgmq.create(q) FROM unnest(ARRAY['p_send', 'p_read', 'p_delete', 'p_archive']) q" \
	-c "SELECT mq.create_queue(q) FROM unnest(ARRAY['m_send', 'm_read', 'm_delete', 'm_archive']) q" >/dev/null
say "filling the queues of the read cases ($MESSAGES messages each)"
for q in p_read p_delete p_archive m_read m_delete m_archive; do
	n=$MESSAGES; case $q in *_read) n=10000;; esac
	# (the batch names g: a call for every g, not one)
	psql -X -q -v ON_ERROR_STOP=1 -d bench -c "SELECT count(*) FROM generate_series(1, $n / 5000) g,
		LATERAL mq.send_batch('$q', array_fill(jsonb_build_object('n', g), ARRAY[5000]))" >/dev/null
done
psql -X -q -d bench -c "VACUUM ANALYZE" 2>/dev/null

scripts=$(mktemp -d)
echo "SELECT * FROM pgmq.send('p_send', '{\"n\": 1}');" >"$scripts/pgmq_send.sql"
echo "SELECT mq.send('m_send', '{\"n\": 1}');" >"$scripts/mq_send.sql"
# (a lease that ends at once: reads that leave leases behind get slower as
# they pile up ahead of the visible messages, on both sides alike)
echo "SELECT * FROM pgmq.read('p_read', 0, 1);" >"$scripts/pgmq_read.sql"
echo "SELECT * FROM mq.read('m_read', 1, '1 microsecond');" >"$scripts/mq_read.sql"
echo "SELECT pgmq.delete('p_delete', msg_id) FROM pgmq.read('p_delete', 30, 1);" >"$scripts/pgmq_delete.sql"
echo "SELECT mq.ack('m_delete', msg_id) FROM mq.read('m_delete', 1, '30 s');" >"$scripts/mq_delete.sql"
echo "SELECT pgmq.archive('p_archive', msg_id) FROM pgmq.read('p_archive', 30, 1);" >"$scripts/pgmq_archive.sql"
echo "SELECT mq.archive('m_archive', msg_id) FROM mq.read('m_archive', 1, '30 s');" >"$scripts/mq_archive.sql"

# run SCRIPT: one pgbench run, prints tps
run() { pgbench_tps bench "$scripts/$1.sql" -c "$CLIENTS" -t "$TRANSACTIONS"; }

say "pgbench -M prepared -c $CLIENTS, $RUNS runs of $TRANSACTIONS transactions a client, pgmq and mq alternating"
printf '| case | pgmq API on mq (tps) | plain mq (tps) | pgmq / mq |\n| --- | ---: | ---: | ---: |\n'
for case in send read delete archive; do
	a=(); b=()
	for i in $(seq "$RUNS"); do	# (which goes first alternates too)
		if [ $((i % 2)) = 1 ]; then
			a+=("$(run pgmq_$case)"); b+=("$(run mq_$case)")
		else
			b+=("$(run mq_$case)"); a+=("$(run pgmq_$case)")
		fi
	done
	ma=$(printf '%s\n' "${a[@]}" | median)
	mb=$(printf '%s\n' "${b[@]}" | median)
	printf '| %s | %s | %s | %s |\n' "$case" "$ma" "$mb" \
		"$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
done
# every case drained less than it was given, or the numbers mean an empty queue
psql -X -q -At -d bench -c "SELECT 'visible in ' || queue_name || ' after: ' || visible FROM mq.metrics_all()
	WHERE queue_name NOT LIKE '%send' ORDER BY 1"
rm -rf "$scripts"
