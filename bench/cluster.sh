#!/usr/bin/env bash
# The cost of a call through the mq cluster proxy (doc/cluster.md): send, and
# read + ack, through a PL/Proxy database (mq_cluster, a cluster of one node)
# against the same calls made directly in the node's database, on one
# throwaway server (the proxy reaches the node over the Unix socket), pgbench
# -M prepared, A and B alternating, the median of BENCH_RUNS runs.  Needs
# PL/Proxy: Debian's PostgreSQL 15 (postgresql-15-plproxy).
#
#   bash bench/cluster.sh      # as root; BENCH_SECONDS=4 BENCH_RUNS=3 BENCH_CLIENTS=4 by default
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
source "$(dirname "$0")/common.sh"
MQ_PORT=${BENCH_PORT:-54349}
MQ_CLUSTER=/tmp/mq-bench-cluster-$MQ_PORT
SECONDS_PER_RUN=${BENCH_SECONDS:-4}
RUNS=${BENCH_RUNS:-3}
CLIENTS=${BENCH_CLIENTS:-4}

use_postgres
if ! is_debian_postgres || [ "$PG_MAJOR" != 15 ]; then
	echo "bench/cluster.sh: needs Debian's PostgreSQL 15 (the only one with postgresql-15-plproxy)" >&2
	exit 2
fi
install_packages build-essential postgresql-15-plproxy
build_and_install
MQ_EXTRA_CONF="shared_buffers = '1GB'
synchronous_commit = off
max_wal_size = '4GB'
mq.maintenance_interval = 0"
start_cluster
trap stop_cluster EXIT

psql -X -q -d postgres -c "CREATE DATABASE node" -c "CREATE DATABASE proxy"
psql -X -q -v ON_ERROR_STOP=1 -d node -c "CREATE EXTENSION mq" \
	-c "SELECT mq.create_queue('sendq'), mq.create_queue('readq')"
psql -X -q -v ON_ERROR_STOP=1 -d proxy -c "CREATE EXTENSION mq_cluster CASCADE" \
	-c "CREATE SERVER mq_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (p0 'host=$MQ_CLUSTER port=$MQ_PORT dbname=node')" \
	-c "CREATE USER MAPPING FOR PUBLIC SERVER mq_cluster"
# enough messages for every read + ack run of both sides (a read that finds
# the queue empty would count as a fast transaction: drained() checks); the
# send_batch is in the select list, so it runs once per row of the series
FILL=${BENCH_FILL:-$((CLIENTS * 20000 * SECONDS_PER_RUN * RUNS))}
psql -X -q -v ON_ERROR_STOP=1 -d node -c "SELECT count(*) FROM (SELECT mq.send_batch('readq',
	array_fill('{\"n\": 1}'::jsonb, ARRAY[5000])) FROM generate_series(1, $(( (FILL + 4999) / 5000 )))) s" >/dev/null
# drained DB: fails when a queue ran empty during the consume runs
drained() {
	local empty
	empty=$(psql -X -q -At -d "$1" -c "SELECT count(*) FROM mq.metrics_all() WHERE queue_name NOT LIKE 's%' AND queue_length = 0")
	if [ "$empty" != 0 ]; then
		echo "bench/cluster.sh: $empty queue(s) of $1 ran empty during the read + ack runs: raise BENCH_FILL" >&2
		exit 1
	fi
}

scripts=$(mktemp -d)
echo "SELECT mq.send('sendq', '{\"n\": 1}');" >"$scripts/send.sql"
echo "SELECT mq.ack('readq', msg_id) FROM mq.read('readq', 1);" >"$scripts/consume.sql"

# run DB SCRIPT: one pgbench run, prints tps
run() { pgbench_tps "$1" "$scripts/$2.sql" -c "$CLIENTS" -T "$SECONDS_PER_RUN"; }

say "pgbench -M prepared -c $CLIENTS, $RUNS runs of ${SECONDS_PER_RUN} s, proxy and direct alternating"
printf '| case | through the proxy (tps) | direct on the node (tps) | proxy / direct |\n| --- | ---: | ---: | ---: |\n'
for case in send consume; do
	a=(); b=()
	for _ in $(seq "$RUNS"); do
		a+=("$(run proxy $case)")
		b+=("$(run node $case)")
	done
	ma=$(printf '%s\n' "${a[@]}" | median)
	mb=$(printf '%s\n' "${b[@]}" | median)
	[ "$case" = consume ] && drained node
	printf '| %s | %s | %s | %s |\n' "$case" "$ma" "$mb" \
		"$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
done

# the same client load over 1, 2 and 4 nodes: 16 queues spread by the
# proxy's hash, each client sending to and consuming from a random one.
# The nodes are databases of this one server, so on a small machine this
# shows what the proxy and the spread cost, not what more machines give
# (doc/cluster.md and BENCHMARKS.md give the model).
echo "SELECT mq.send('s' || (random() * 15)::int, '{\"n\": 1}');" >"$scripts/spread_send.sql"
echo "SELECT mq.ack(q, msg_id) FROM (SELECT 'r' || (random() * 15)::int AS q) x, LATERAL mq.read(q, 1);" >"$scripts/spread_consume.sql"
say "the same load over 1, 2 and 4 nodes (pgbench -c $CLIENTS through the proxy)"
printf '| nodes | send (tps) | read + ack (tps) |\n| ---: | ---: | ---: |\n'
for n in 1 2 4; do
	opts=""
	for i in $(seq 0 $((n - 1))); do
		psql -X -q -d postgres -c "CREATE DATABASE n${n}_$i"
		psql -X -q -d "n${n}_$i" -c "CREATE EXTENSION mq"
		opts="$opts${opts:+, }p$i 'host=$MQ_CLUSTER port=$MQ_PORT dbname=n${n}_$i'"
	done
	psql -X -q -d postgres -c "CREATE DATABASE proxy$n"
	psql -X -q -v ON_ERROR_STOP=1 -d "proxy$n" -c "CREATE EXTENSION mq_cluster CASCADE" \
		-c "CREATE SERVER mq_cluster FOREIGN DATA WRAPPER plproxy OPTIONS ($opts)" \
		-c "CREATE USER MAPPING FOR PUBLIC SERVER mq_cluster" \
		-c "SELECT mq.create_queue('s' || i), mq.create_queue('r' || i) FROM generate_series(0, 15) i" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "proxy$n" -c "SELECT count(*) FROM (SELECT mq.send_batch('r' || i,
		array_fill('{\"n\": 1}'::jsonb, ARRAY[5000])) FROM generate_series(0, 15) i, generate_series(1, 8) k) s" >/dev/null
	a=(); b=()
	for _ in $(seq "$RUNS"); do
		a+=("$(run "proxy$n" spread_send)")
		b+=("$(run "proxy$n" spread_consume)")
	done
	drained "proxy$n"
	printf '| %s | %s | %s |\n' "$n" "$(printf '%s\n' "${a[@]}" | median)" "$(printf '%s\n' "${b[@]}" | median)"
done
rm -rf "$scripts"
