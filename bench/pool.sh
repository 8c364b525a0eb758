#!/usr/bin/env bash
# The pool of background workers (issue 32): what idle databases cost, and
# how late timed work is when many databases each have a little traffic.
# One throwaway cluster; two ways of running the workers, measured in turn
# in the same run:
#   pool    the default: mq.max_workers = 4, mq.worker_idle_timeout = 10s
#   per-db  a worker per database that never leaves (max_workers = 120,
#           worker_idle_timeout = -1): what 0.7.0 did, minus its polling
# For 1, 10 and 100 idle databases (queues, a stream, no traffic): CPU time
# of the launcher and workers over BENCH_IDLE_SECONDS (60), counting the
# workers that came and went (the postmaster's children's times).  Then
# 100 databases, each sending one message every 10 s to a notify queue and
# one to a queue with a 3 s TTL: the delay from the send to its NOTIFY, and
# from the TTL to the dead letter's NOTIFY (median, 99th percentile, worst)
# over BENCH_DELAY_SECONDS (60).  Results in bench/pool.csv.
#
#   bash bench/pool.sh            # as root, like scripts/test.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
MQ_PORT=${BENCH_PORT:-54349}
MQ_CLUSTER=/tmp/mq-bench-pool-$MQ_PORT
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60}
DELAY_SECONDS=${BENCH_DELAY_SECONDS:-60}
COUNTS=${BENCH_DATABASES:-"1 10 100"}
OUT=${BENCH_OUT:-$MQ_ROOT/bench/pool.csv}

use_postgres
install_packages python3-psycopg
build_and_install
MQ_EXTRA_CONF="max_connections = 300
max_worker_processes = 130
autovacuum = off"
start_cluster
trap stop_cluster EXIT
py() { /usr/bin/python3 "$MQ_ROOT/bench/pool.py" "$@"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

mode() {
	case $1 in
	pool) q postgres "ALTER SYSTEM SET mq.max_workers = 4"
		q postgres "ALTER SYSTEM SET mq.worker_idle_timeout = '10s'" ;;
	per-db) q postgres "ALTER SYSTEM SET mq.max_workers = 120"
		q postgres "ALTER SYSTEM SET mq.worker_idle_timeout = -1" ;;
	esac
	q postgres "SELECT pg_reload_conf()" >/dev/null
}

# settled: no database has work due within the window (the rounds that
# follow activity are over), and in the pool no worker is left
settle() {
	local i
	for i in $(seq 300); do
		if [ "$(q postgres "SELECT count(*) FROM mq.workers WHERE state NOT IN ('idle', 'sleeping')
			OR (next_wake IS NOT NULL AND next_wake < now() + interval '$((IDLE_SECONDS + 10)) seconds')
			OR ('$1' = 'pool' AND pid IS NOT NULL)")" = 0 ]; then
			return 0
		fi
		sleep 1
	done
	echo "not settled after 300 s" >&2
}

q postgres "CREATE EXTENSION mq"
have=0
echo "measure,mode,databases,a,b,c,d,e,f,g,h,i" > "$OUT"
for n in $COUNTS; do
	say "$n idle databases"
	while [ $have -lt "$n" ]; do
		have=$((have + 1))
		q postgres "CREATE DATABASE pool$have"
		q "pool$have" "CREATE EXTENSION mq;
			SELECT mq.create_queue('dlq', notify => true);
			SELECT mq.create_queue('n', notify => true);
			SELECT mq.create_queue('t', message_ttl => '3 seconds', dead_letter_queue => 'dlq');
			SELECT mq.create_queue('kept', archive => true, retention => '1 day');
			SELECT mq.create_stream('s', partitions => 2, retention => '1 day');
			SELECT mq.append('s', '{}');" >/dev/null
	done
	for m in per-db pool; do
		mode $m
		if [ $m = per-db ]; then
			# a commit in each brings its worker, which then stays
			for i in $(seq "$n"); do q "pool$i" "SELECT mq.send('n', '{}'); SELECT count(*) FROM mq.pop('n')" >/dev/null; done
		fi
		settle $m
		r=$(py cpu "$IDLE_SECONDS")
		echo "idle cpu (ticks, % of a core, mq processes): $m, $n databases: $r"
		echo "idle_cpu,$m,$n,$r" >> "$OUT"
	done
done

say "delay of timed work: $have databases, a send every 10 s each"
for m in per-db pool; do
	mode $m
	sleep 2
	r=$(py delay "$have" "$DELAY_SECONDS")
	echo "delay (sends, notifies, p50, p99, max ms; dead letters, p50, p99, max ms past the TTL): $m: $r"
	echo "delay,$m,$have,$r" >> "$OUT"
	settle $m
done
cat "$OUT"
