#!/usr/bin/env bash
# mq benchmark: one command, one throwaway tuned cluster, every comparison
# side by side in the same run (A/B alternating), medians of 3 runs, written
# to bench/results.md, bench/results.csv and bench/throughput.png.
#
#   bash bench/run.sh            # as root (or with sudo), like scripts/test.sh
#   BENCH_SECONDS=4 BENCH_RUNS=3 bash bench/run.sh   (the defaults)
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
MQ_PORT=${BENCH_PORT:-54339}
MQ_CLUSTER=/tmp/mq-bench-$MQ_PORT
SECONDS_PER_RUN=${BENCH_SECONDS:-4}
RUNS=${BENCH_RUNS:-3}
CLIENTS=${BENCH_CLIENTS:-"4 16"}
BENCH=$MQ_ROOT/bench
# run only some cases, e.g. BENCH_CASES="consume consume_batch100"
CASES=${BENCH_CASES:-all}
OUT=$BENCH/results.csv
# a partial run leaves the committed results alone
if [ "$CASES" != all ]; then OUT=/tmp/mq-bench-results.csv; fi

use_postgres
PGBENCH=$PG_BIN/pgbench
install_packages build-essential "postgresql-$PG_MAJOR-pgq3" gnuplot-nox
build_and_install
MQ_EXTRA_CONF="shared_buffers = '1GB'
synchronous_commit = off
max_wal_size = '4GB'
checkpoint_timeout = '30min'
autovacuum_naptime = '10s'
mq.maintenance_interval = 0"
start_cluster
trap stop_cluster EXIT

q() { psql -X -q -At -v ON_ERROR_STOP=1 -d bench -c "$1"; }
psql -X -q -d postgres -c "CREATE DATABASE bench"
q "CREATE EXTENSION mq; CREATE EXTENSION pgq"
say "setting up queues, equivalent raw tables, exchanges, PgQ"
psql -X -q -v ON_ERROR_STOP=1 -d bench -f "$BENCH/sql/setup.sql" >/dev/null
# BENCH_FILLFACTOR=80: every queue table filled as before 0.7.0, to measure
# what the fillfactor costs (the fills write their pages with it)
if [ -n "${BENCH_FILLFACTOR:-}" ]; then
	[[ $BENCH_FILLFACTOR =~ ^[0-9]+$ ]] || { echo "BENCH_FILLFACTOR: a whole number (PostgreSQL takes 10 to 100)" >&2; exit 2; }
	q "SELECT format('ALTER TABLE mq.%I SET (fillfactor = %s);', 'q_' || queue_id, ${BENCH_FILLFACTOR})
		FROM mq._queue" | psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null
fi

# run SCRIPT CLIENTS: one pgbench run, prints tps
run() {
	local script=$1 clients=$2 log
	log=$(mktemp)
	q "CHECKPOINT" >/dev/null
	if ! "$PGBENCH" -n -M prepared -c "$clients" -j 2 -T "$SECONDS_PER_RUN" \
		-f "$BENCH/sql/$script.sql" bench >"$log" 2>&1; then
		echo "pgbench $script failed:" >&2
		grep -m 5 -i error "$log" >&2
	fi
	awk '/^tps = / { printf "%.0f\n", $3 } END { if (!NR) print 0 }' "$log" | head -1
	rm -f "$log"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

wanted() { [ "$CASES" = all ] || [[ " $CASES " == *" $1 "* ]]; }

echo "case,clients,a,a_tps,b,b_tps,ratio" > "$OUT"
# compare CASE A B CLIENTS [PREP]: A and B alternate, RUNS times each
compare() {
	local name=$1 a=$2 b=$3 clients=$4 prep=${5:-}
	local ta=() tb=() i
	wanted "$name" || return 0
	for i in $(seq "$RUNS"); do
		# A and B use different tables: one preparation serves both
		if [ -n "$prep" ]; then $prep; fi
		ta+=("$(run "$a" "$clients")")
		tb+=("$(run "$b" "$clients")")
	done
	local ma mb
	ma=$(printf '%s\n' "${ta[@]}" | median)
	mb=$(printf '%s\n' "${tb[@]}" | median)
	local ratio
	ratio=$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	echo "$name,$clients,$a,$ma,$b,$mb,$ratio" | tee -a "$OUT"
}

# a deep queue for the consumers, refilled before each run pair and
# vacuumed, so both sides start from clean tables of the same size
fill() {
	q "SELECT bench_fill(${1:-30})" >/dev/null
	q "VACUUM ANALYZE mq.q_$(q "SELECT mq._queue_id('cq')")" >/dev/null
	q "VACUUM ANALYZE rawc" >/dev/null
}
FILL=fill
fill_deep() { fill 80; }
# send + consume keeps the queue's depth: it only has to be non-empty
fill_small() { fill 5; }
# queues of 10,000 groups: the queue measured and the plain one it is
# compared with get 300,000 messages each, vacuumed
fill_groups() {
	local t
	for t in "$1" gplain; do
		q "SELECT bench_fill_groups('$t', 30)" >/dev/null
		q "VACUUM ANALYZE mq.q_$(q "SELECT mq._queue_id('$t')")" >/dev/null
	done
}
# bytes payloads (issue 31): the two queues of 1 kB messages, payloads and
# JSON of the same stored size, 200,000 each, vacuumed; the payload send
# and batch cases start each run pair from an empty queue and raw table
fill_sized() {
	local t
	q "SELECT bench_fill_sized(20)" >/dev/null
	for t in cpay cjson; do
		q "VACUUM ANALYZE mq.q_$(q "SELECT mq._queue_id('$t')")" >/dev/null
	done
}
empty_payload_tables() {
	q "TRUNCATE mq.q_$(q "SELECT mq._queue_id('bpq')"), rawp" >/dev/null
}
fill_gfair() { fill_groups gfair; }
fill_gconc() { fill_groups gconc; }
fill_grate() { fill_groups grate; }
source "$BENCH/idle_readers.sh"

say "pgbench, ${SECONDS_PER_RUN}s per run, median of $RUNS, A/B alternating"
for c in $CLIENTS; do
	compare send mq_send raw_insert "$c"
	compare batch100 mq_batch100 raw_batch100 "$c"
	compare consume mq_consume raw_consume "$c" "$FILL"
	compare consume_batch100 mq_consume100 raw_consume100 "$c" fill_deep
	compare mixed mq_mixed raw_mixed "$c" fill_small
	compare topic_1000_vs_10 mq_topic1000 mq_topic10 "$c"
	compare pgq_peer mq_send pgq_insert "$c"
	compare fair_10000_groups mq_gfair_consume mq_gplain_consume "$c" fill_gfair
	compare group_concurrency mq_gconc_consume mq_gplain_consume "$c" fill_gconc
	compare rate_below_limit mq_grate_consume mq_gplain_consume "$c" fill_grate
	compare send_payload_1k mq_send_payload raw_insert_payload "$c" empty_payload_tables
	compare consume_payload_vs_json mq_consume_payload mq_consume_json1k "$c" fill_sized
	if wanted idle_readers; then idle_readers "$c"; fi
done
compare batch10000 mq_batch10000 raw_batch10000 1
compare batch10000_payload mq_batch10000_payload raw_batch10000_payload 1 empty_payload_tables
# depth scaling: the mixed load (send 1, read 1 + ack, so the depth stays)
# over 10,000, 1,000,000 and 5,000,000 messages, each depth filled once (a
# fill of 5 million takes a minute or two); mq's rate at a depth against
# its rate at 10,000 is in BENCHMARKS.md
fill_depth() {
	if [ "${DEPTH_FILLED:-}" != "$1" ]; then fill "$1"; DEPTH_FILLED=$1; fi
}
fill_depth_10k() { fill_depth 1; }
fill_depth_1m() { fill_depth 100; }
fill_depth_5m() { fill_depth 500; }
compare depth_10k mq_mixed raw_mixed 4 fill_depth_10k
compare depth_1m mq_mixed raw_mixed 4 fill_depth_1m
compare depth_5m mq_mixed raw_mixed 4 fill_depth_5m
compare stream_append mq_append raw_insert 4
compare stream_append mq_append raw_insert 16
compare stream_batch10000 mq_append10000 raw_batch10000 1
# each client its own consumer group (mq) and its own consumer (PgQ)
rewind() {
	# a group or PgQ consumer that reached the end made empty (fast) cycles
	if [ "$(q "SELECT count(*) FROM (SELECT 1 FROM mq.consumer_groups WHERE stream = 'bcons' GROUP BY consumer_group HAVING sum(lag) = 0) g")" != 0 ] ||
	   [ "$(q "SELECT count(*) FROM pgq.get_consumer_info('pc') WHERE pending_events = 0")" != 0 ]; then
		echo "stream_consume100: a consumer ran dry; this case's numbers are not valid" >&2
	fi
	q "CALL bench_rewind_consumers()" >/dev/null
}
compare stream_consume100 mq_poll100 pgq_batch100 4 rewind
compare stream_consume100 mq_poll100 pgq_batch100 16 rewind
# the cost of a group's cycle does not depend on how many groups read: one
# client cycling over 10 groups (a random one each transaction) against the
# same client reading one group (bg0, mq_poll100 with client_id 0)
compare stream_groups_10_vs_1 mq_poll100_g10 mq_poll100 1 rewind

if wanted wake_latency; then
say "wake latency: a blocked reader, a sender committing every 5 ms, 1000 trials"
q "SELECT mq.purge_queue('lat')" >/dev/null
for i in $(seq 1000); do
	echo "SELECT extract(epoch FROM clock_timestamp() - (body->>'t')::timestamptz) * 1000 FROM mq.read('lat', 1, '1 minute', wait => '10 seconds');"
done > /tmp/mq-bench-lat-reader.sql
for i in $(seq 1000); do
	echo "SELECT pg_sleep(0.005);"
	echo "SELECT mq.send('lat', jsonb_build_object('t', clock_timestamp()));"
done > /tmp/mq-bench-lat-writer.sql
( psql -X -q -At -d bench -f /tmp/mq-bench-lat-reader.sql > /tmp/mq-bench-lat.out ) &
reader=$!
sleep 1
psql -X -q -At -d bench -f /tmp/mq-bench-lat-writer.sql >/dev/null
wait $reader
sort -n /tmp/mq-bench-lat.out | awk '{ a[NR] = $1 } END {
	printf "wake_latency_ms,1,p50,%.3f,p99,%.3f,\n", a[int(NR * 0.5)], a[int(NR * 0.99)] }' | tee -a "$OUT"
fi

say "writing bench/results.md and bench/throughput.png"
if [ "$CASES" = all ]; then bash "$BENCH/report.sh" "$OUT"; fi
