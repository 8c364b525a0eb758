#!/usr/bin/env bash
# Double an mq cluster behind PL/Proxy (doc/cluster.md, "Growing the
# cluster"): N nodes become 2N.  A queue on node k (the low bits of
# mq.cluster_hash(name)) stays there or moves to node k + N; this script
# copies every exchange with its exchange-to-exchange bindings to the new
# nodes, then moves each queue whose node changes: creates it on its new node
# with the same options, bindings and grants, moves its messages (a batch
# leased on the old node, sent on the new one and committed, then acked on
# the old one), waits for its in-flight and delayed messages to come back and
# moves them too, and drops it on the old node.  Then alter the proxy's
# server mq_cluster as printed at the end.
#
#   scripts/cluster_grow.sh [--dry-run] [--wait SECONDS] OLD0 .. OLDn-1 -- NEW0 .. NEWn-1
#
# OLDk and NEWk are libpq connection strings of the nodes, the old ones in
# the order of the server's p0 .. pN-1 options; mq must be created in every
# new node's database, and each new node must reach the old nodes with the
# old connection strings (the move runs on the new node, through dblink).
# Stop the clients of the cluster first: a send through the proxy to a
# queue's old node after the queue moved would be lost with its drop.
# Exit status: 0 done (or planned, with --dry-run), 2 bad usage, other
# failed (what moved stays moved: run it again).
set -euo pipefail

usage() {
	sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'
}

dry_run=0
wait_s=600
old=()
new=()
side=old
while [ $# -gt 0 ]; do
	case "$1" in
		-h|--help) usage; exit 0 ;;
		--dry-run) dry_run=1 ;;
		--wait) shift; wait_s=${1:?--wait needs seconds} ;;
		--) side=new ;;
		-*) echo "cluster_grow.sh: unknown option $1" >&2; exit 2 ;;
		*) if [ $side = old ]; then old+=("$1"); else new+=("$1"); fi ;;
	esac
	shift
done
n=${#old[@]}
if [ "$n" -eq 0 ] || [ "$n" -ne ${#new[@]} ] || [ $((n & (n - 1))) -ne 0 ]; then
	echo "cluster_grow.sh: give the N old nodes (N a power of 2), --, and N new ones" >&2
	echo "usage: cluster_grow.sh [--dry-run] [--wait SECONDS] OLD0 .. OLDn-1 -- NEW0 .. NEWn-1" >&2
	exit 2
fi
case "$wait_s" in ''|*[!0-9]*) echo "cluster_grow.sh: --wait takes whole seconds" >&2; exit 2 ;; esac
all=("${old[@]}" "${new[@]}")
mask=$((2 * n - 1))

q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
# run the SQL statements on stdin in one transaction
apply() { psql -X -q -At -v ON_ERROR_STOP=1 -1 -d "$1" >/dev/null; }
# a name as an SQL literal (standard_conforming_strings is on)
literal() { printf "'%s'" "$(printf %s "$1" | sed "s/'/''/g")"; }
say() { printf '%s\n' "$*"; }

# --- checks before anything changes ---
for i in "${!all[@]}"; do
	if ! q "${all[$i]}" "SELECT 1 FROM pg_extension WHERE extname = 'mq'" | grep -q 1; then
		echo "cluster_grow.sh: node ${all[$i]}: no mq there (CREATE EXTENSION mq)" >&2; exit 1
	fi
done
streams=$(q "${old[0]}" "SELECT string_agg(stream, ', ') FROM mq.streams")
if [ -n "$streams" ]; then
	echo "cluster_grow.sh: streams do not grow this way (a node's partitions would have to shrink): $streams" >&2
	echo "  Drop them (or move their consumers to new streams) first; doc/cluster.md, \"Growing the cluster\"." >&2
	exit 1
fi
# the node a name lands on in the grown cluster, in SQL
node_of="(('x' || substr(md5(queue_name), 1, 8))::bit(32)::int & $mask)"
moves=()	# "k queue" pairs
for k in $(seq 0 $((n - 1))); do
	bad=$(q "${old[$k]}" "SELECT string_agg(format('%s on node %s', queue_name, $node_of), ', ')
		FROM mq.queues WHERE $node_of NOT IN ($k, $((k + n)))")
	if [ -n "$bad" ]; then
		echo "cluster_grow.sh: node $k holds queues that are not its own (is the order of the nodes the server's?): $bad" >&2
		exit 1
	fi
	split=$(q "${old[$k]}" "SELECT string_agg(format('%s and its dead-letter queue %s', queue_name, dead_letter_queue), ', ')
		FROM mq.queues q WHERE dead_letter_queue IS NOT NULL
		  AND $node_of <> (('x' || substr(md5(dead_letter_queue), 1, 8))::bit(32)::int & $mask)")
	if [ -n "$split" ]; then
		echo "cluster_grow.sh: these would land on different nodes: $split" >&2
		echo "  Remove the dead-letter queue (alter_queue(q, dead_letter_queue => '')) or rename, then run again." >&2
		exit 1
	fi
	while IFS= read -r name; do
		[ -n "$name" ] && moves+=("$k $name")
	done < <(q "${old[$k]}" "SELECT queue_name FROM mq.queues WHERE $node_of = $((k + n)) ORDER BY 1")
done

say "growing from $n to $((2 * n)) nodes: ${#moves[@]} queues move"
for m in "${moves[@]}"; do say "  ${m#* }: node ${m%% *} -> node $((${m%% *} + n))"; done
if [ $dry_run = 1 ]; then exit 0; fi

# --- exchanges and their exchange-to-exchange bindings on the new nodes ---
for k in $(seq 0 $((n - 1))); do
	{
		q "${old[0]}" "SELECT format('SELECT mq.create_exchange(%L, %L);', exchange_name, type)
			FROM mq.exchanges ORDER BY exchange_name"
		q "${old[0]}" "SELECT format('SELECT mq.bind_exchange(%L, %L, %L, %L);', source, destination,
			binding_key, arguments) FROM mq.bindings WHERE destination_type = 'exchange'"
		q "${old[0]}" "SELECT format('SELECT mq.grant_exchange(%L, %L, %L);', object_name, grantee, privilege)
			FROM mq.privileges WHERE object_type = 'exchange'"
	} | apply "${new[$k]}"
done
say "exchanges copied to the new nodes"

# --- each moving queue: made on its new node, then its messages ---
# (created without their dead-letter queue, set once all exist)
for m in "${moves[@]}"; do
	k=${m%% *}; name=${m#* }; src=${old[$k]}; dst=${new[$k]}
	{
		q "$src" "SELECT format('SELECT mq.create_queue(%L, visibility_timeout => %L, max_receives => %L,
			message_ttl => %L, max_length => %L, overflow => %L, fifo => %L, dedup_window => %L,
			archive => %L, retention => %L, unlogged => %L, notify => %L, fair => %L,
			group_concurrency => %L, rate_limit => %L, rate_interval => %L, group_rate_limit => %L,
			durability => %L, min_replicas => %L);', queue_name, visibility_timeout, max_receives,
			message_ttl, max_length, overflow, fifo, dedup_window, archive, retention, unlogged,
			notify, fair, group_concurrency, rate_limit, rate_interval, group_rate_limit, durability,
			min_replicas) FROM mq.queues WHERE queue_name = $(literal "$name")"
	} | apply "$dst"
done
for m in "${moves[@]}"; do
	k=${m%% *}; name=${m#* }; src=${old[$k]}; dst=${new[$k]}
	lit=$(literal "$name")
	{
		q "$src" "SELECT format('SELECT mq.alter_queue(%L, dead_letter_queue => %L);', queue_name,
			dead_letter_queue) FROM mq.queues WHERE queue_name = $lit AND dead_letter_queue IS NOT NULL"
		q "$src" "SELECT format('SELECT mq.bind(%L, %L, %L, %L);', source, destination, binding_key,
			arguments) FROM mq.bindings WHERE destination_type = 'queue' AND destination = $lit"
		q "$src" "SELECT format('SELECT mq.grant(%L, %L, %L);', object_name, grantee, privilege)
			FROM mq.privileges WHERE object_type = 'queue' AND object_name = $lit"
	} | apply "$dst"
done
say "queues made on their new nodes"

move_messages() {	# src dst name: move what is visible now; prints how many
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$2" -v src="$1" -v qn="$3" <<'SQL'
CREATE EXTENSION IF NOT EXISTS dblink;
SET grow.src = :'src';
SET grow.queue = :'qn';
CREATE TEMP TABLE moved (n bigint);
INSERT INTO moved VALUES (0);
DO $$
DECLARE
	src text := current_setting('grow.src');
	qn text := current_setting('grow.queue');
	ids bigint[];
BEGIN
	LOOP
		-- a batch leased on the old node (that read commits there at once;
		-- if this stops here, the lease runs out and the batch comes again)
		CREATE TEMP TABLE batch ON COMMIT DROP AS
			SELECT * FROM dblink(src, format(
				'SELECT msg_id, body, headers, dedup_key, group_key, priority, payload, content_type,
						content_encoding, correlation_id, reply_to, expires_at
				 FROM mq.read(%L, 100, %L)', qn, '10 minutes'))
			AS m(msg_id bigint, body jsonb, headers jsonb, dedup_key text, group_key text,
				 priority int, payload bytea, content_type text, content_encoding text,
				 correlation_id text, reply_to text, expires_at timestamptz);
		SELECT array_agg(msg_id ORDER BY msg_id) INTO ids FROM batch;
		EXIT WHEN ids IS NULL;
		-- sent here and committed, then acked there: at least once
		PERFORM mq.send(qn, b.body, b.headers, '0', b.dedup_key, b.group_key, b.priority, b.payload,
						CASE WHEN b.payload IS NOT NULL THEN b.content_type END,
						CASE WHEN b.payload IS NOT NULL THEN b.content_encoding END,
						b.correlation_id, b.reply_to, b.expires_at - clock_timestamp())
		FROM (SELECT * FROM batch ORDER BY msg_id) b
		WHERE b.expires_at IS NULL OR b.expires_at > clock_timestamp() + interval '1 second';
		UPDATE moved SET n = n + cardinality(ids);
		COMMIT;
		PERFORM * FROM dblink(src, format('SELECT count(*) FROM mq.ack_batch(%L, %L)', qn, ids))
			AS a(n bigint);
	END LOOP;
END
$$;
SELECT n FROM moved;
SQL
}

for m in "${moves[@]}"; do
	k=${m%% *}; name=${m#* }; src=${old[$k]}; dst=${new[$k]}
	lit=$(literal "$name")
	total=0
	deadline=$((SECONDS + wait_s))
	while :; do
		got=$(move_messages "$src" "$dst" "$name" | tail -n 1)
		total=$((total + got))
		left=$(q "$src" "SELECT queue_length FROM mq.metrics($lit)")
		[ "$left" = 0 ] && break
		if [ $SECONDS -ge $deadline ]; then
			echo "cluster_grow.sh: queue $name still has $left messages on node $k (in flight or delayed) after ${wait_s}s;" >&2
			echo "  run the script again: what moved stays moved, the rest moves then" >&2
			exit 1
		fi
		sleep 1
	done
	q "$src" "SELECT mq.drop_queue($lit)" >/dev/null
	say "  $name: $total messages moved to node $((k + n)), dropped on node $k"
done

say "done. Now, in the proxy database:"
opts=()
for k in $(seq 0 $((n - 1))); do
	opts+=("ADD p$((k + n)) '$(printf %s "${new[$k]}" | sed "s/'/''/g")'")
done
say "  ALTER SERVER mq_cluster OPTIONS ($(IFS=,; echo "${opts[*]}" | sed 's/,ADD/, ADD/g'));"
