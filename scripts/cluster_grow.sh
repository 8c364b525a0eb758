#!/usr/bin/env bash
# Double an mq cluster behind PL/Proxy (doc/cluster.md, "Growing the
# cluster"): N nodes become 2N.  A queue on node k (the low bits of
# mq.cluster_hash(name)) stays there or moves to node k + N; this script
# copies every exchange with its exchange-to-exchange bindings to the new
# nodes, then moves each queue whose node changes: creates it on its new node
# with the same options, bindings and grants, moves its messages (a batch
# leased on the old node, sent on the new one and committed, then acked on
# the old one), waits for its in-flight and delayed messages to come back and
# moves them too, and drops it on the old node.  Each stream (P partitions,
# P / N a node in ranges) is made again on every node with P / 2N: the
# records of each node's future partitions are staged on it (schema
# mq_grow) with their positions, then each node in one transaction drops
# its stream and makes it again with the records at their positions, each
# partition's end, its consumer groups at their committed positions, its
# grants and (on the node of its name) its bindings.  Then alter the
# proxy's server mq_cluster as printed at the end.
#
#   scripts/cluster_grow.sh [--dry-run] [--wait SECONDS] OLD0 .. OLDn-1 -- NEW0 .. NEWn-1
#
# OLDk and NEWk are libpq connection strings of the nodes, the old ones in
# the order of the server's p0 .. pN-1 options; mq must be created in every
# new node's database, and each new node must reach the old nodes with the
# old connection strings (the move runs on the new node, through dblink).
# Run it as a superuser of the nodes, with the clients of the cluster
# stopped: a send through the proxy to a queue's old node after the queue
# moved would be lost with its drop, and an append during a stream's move
# would be lost with the old stream.
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
# --- streams: every node's stream is made again with half its partitions ---
# (new node j holds global partitions j*L' .. (j+1)*L' - 1, L' = L / 2: those
# of old node j / 2, its local partitions from (j % 2) * L'; doc/cluster.md)
node_at() { if [ "$1" -lt "$n" ]; then printf %s "${old[$1]}"; else printf %s "${new[$(($1 - n))]}"; fi; }
stage_ddl="CREATE SCHEMA IF NOT EXISTS mq_grow;
CREATE TABLE IF NOT EXISTS mq_grow.record (stream text, partition int, position bigint, key text,
	headers jsonb, body jsonb, appended_at timestamptz, payload bytea, content_type text,
	content_encoding text, correlation_id text, reply_to text, sent_by text);
CREATE TABLE IF NOT EXISTS mq_grow.part (stream text, partition int, end_position bigint);
CREATE TABLE IF NOT EXISTS mq_grow.grp (stream text, grp text, start text, partition int, position bigint);
CREATE TABLE IF NOT EXISTS mq_grow.stream (stream text, partitions int, retention interval,
	retention_bytes bigint, unlogged bool, durability text, min_replicas int, owner text);
CREATE TABLE IF NOT EXISTS mq_grow.grant (stream text, grantee text, privilege text);
CREATE TABLE IF NOT EXISTS mq_grow.binding (stream text, exchange text, binding_key text, arguments jsonb);
CREATE TABLE IF NOT EXISTS mq_grow.staged (stream text);"
staged() {	# stream: staged on every node (a run stopped while they were made again)
	q "${old[0]}" "SELECT 1 FROM pg_namespace WHERE nspname = 'mq_grow'" | grep -q 1 &&
		q "${old[0]}" "SELECT 1 FROM mq_grow.staged WHERE stream = $(literal "$1")" | grep -q 1
}
grow_streams=()
while IFS= read -r name; do
	[ -z "$name" ] && continue
	lit=$(literal "$name")
	if staged "$name"; then
		grow_streams+=("$name")
		continue
	fi
	# made on the new nodes already (and not half way): grown by an earlier
	# run, when node 0 has as many partitions as the first new node
	ln=$(q "${new[0]}" "SELECT partitions FROM mq.streams WHERE stream = $lit")
	if [ -n "$ln" ]; then
		l=$(q "${old[0]}" "SELECT partitions FROM mq.streams WHERE stream = $lit")
		if [ "$ln" != "$l" ]; then
			echo "cluster_grow.sh: stream $name exists on new node $n with $ln partitions and on node 0 with $l: drop it on the new nodes first" >&2
			exit 1
		fi
		continue
	fi
	l=$(q "${old[0]}" "SELECT partitions FROM mq.streams WHERE stream = $lit")
	for k in $(seq 1 $((n - 1))); do
		lk=$(q "${old[$k]}" "SELECT partitions FROM mq.streams WHERE stream = $lit")
		if [ "$lk" != "$l" ]; then
			echo "cluster_grow.sh: stream $name has ${lk:-no} partitions on node $k and $l on node 0 (is the order of the nodes the server's?)" >&2
			exit 1
		fi
	done
	if [ $((l % 2)) -ne 0 ]; then
		echo "cluster_grow.sh: stream $name has $((l * n)) partitions, $l a node: over $((2 * n)) nodes it needs a multiple of $((2 * n))" >&2
		echo "  mq cannot take partitions away, and adding some moves keys (mq.stream_partition): make a new stream" >&2
		echo "  of a multiple of $((2 * n)) partitions after the grow and let consumers finish this one first; doc/cluster.md." >&2
		exit 1
	fi
	# its owner and grantees must exist on the new nodes (made there as its owner)
	while IFS= read -r role; do
		[ -z "$role" ] && continue
		for k in $(seq 0 $((n - 1))); do
			if ! q "${new[$k]}" "SELECT 1 FROM pg_roles WHERE rolname = $(literal "$role")" | grep -q 1; then
				echo "cluster_grow.sh: role $role (owner or grantee of stream $name) does not exist on new node $((k + n)): create it there first" >&2
				exit 1
			fi
		done
	done < <(q "${old[0]}" "SELECT owner FROM mq.streams WHERE stream = $lit UNION SELECT grantee FROM mq.privileges
		WHERE object_type = 'stream' AND object_name = $lit AND grantee <> 'public'")
	grow_streams+=("$name")
done < <(q "${old[0]}" "SELECT stream FROM mq.streams ORDER BY 1")
# the node a name lands on in the grown cluster, in SQL
# hash SQL: the SQL of mq.cluster_hash() of the text expression SQL (the
# proxy's function; the nodes do not have mq_cluster, so it is spelled out
# here, once)
hash() { echo "(('x' || substr(md5($1), 1, 8))::bit(32)::int)"; }
node_of="($(hash queue_name) & $mask)"
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
		  AND $node_of <> ($(hash dead_letter_queue) & $mask)")
	if [ -n "$split" ]; then
		echo "cluster_grow.sh: these would land on different nodes: $split" >&2
		echo "  Remove the dead-letter queue (alter_queue(q, dead_letter_queue => '')) or rename, then run again." >&2
		exit 1
	fi
	while IFS= read -r name; do
		[ -n "$name" ] && moves+=("$k $name")
	done < <(q "${old[$k]}" "SELECT queue_name FROM mq.queues WHERE $node_of = $((k + n)) ORDER BY 1")
done

say "growing from $n to $((2 * n)) nodes: ${#moves[@]} queues move, ${#grow_streams[@]} streams spread again"
for m in "${moves[@]}"; do say "  ${m#* }: node ${m%% *} -> node $((${m%% *} + n))"; done
for name in "${grow_streams[@]}"; do
	l=$(q "${old[0]}" "SELECT partitions FROM mq.streams WHERE stream = $(literal "$name")")
	say "  stream $name: $((l * n)) partitions, $((l / 2)) a node instead of $l (each record keeps its partition and position)"
done
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

# --- streams: staged on the nodes of the grown cluster, then made again ---
# Stage: each node j of the grown cluster (old nodes 0 .. N-1, then the new
# ones) gets, in tables of schema mq_grow, the records of its future
# partitions (from old node j / 2, with their positions), each partition's
# end, the consumer groups' committed positions, the stream's options,
# grants and exchange bindings.  Then each node in one transaction drops its
# stream, makes it again with half the partitions, puts the records back at
# their positions (as a restore does: the next position is found from the
# records and mq._stream_end on first use), creates the groups at their
# positions (mq.seek), grants and binds, and empties its staging: a node is
# all old or all new, and a stopped run goes on from the staging.
stage_stream() {	# name
	local name=$1 lit l half j k off dst src sel total staged_n
	lit=$(literal "$1")
	l=$(q "${old[0]}" "SELECT partitions FROM mq.streams WHERE stream = $lit")
	half=$((l / 2))
	for j in $(seq 0 $((2 * n - 1))); do
		dst=$(node_at "$j")
		printf '%s\n' "$stage_ddl" | apply "$dst"
		apply "$dst" <<-SQL
			DELETE FROM mq_grow.record WHERE stream = $lit;
			DELETE FROM mq_grow.part WHERE stream = $lit;
			DELETE FROM mq_grow.grp WHERE stream = $lit;
			DELETE FROM mq_grow.stream WHERE stream = $lit;
			DELETE FROM mq_grow.grant WHERE stream = $lit;
			DELETE FROM mq_grow.binding WHERE stream = $lit;
		SQL
		k=$((j / 2)); off=$(((j % 2) * half)); src=${old[$k]}
		# the records of old local partitions off .. off + half - 1, renumbered from 0
		sel=$(q "$src" "SELECT string_agg(format('SELECT %L, partition - $off, position, key, headers, body,
				appended_at, payload, content_type, content_encoding, correlation_id, reply_to, sent_by
				FROM mq.%I WHERE partition BETWEEN $off AND $((off + half - 1))', s.stream_name,
				's_' || g.stream_id || '_' || g.segment), ' UNION ALL ')
			FROM mq._stream s JOIN mq._stream_segment g USING (stream_id) WHERE s.stream_name = $lit")
		q "$src" "COPY ($sel) TO STDOUT" | psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "COPY mq_grow.record FROM STDIN"
		q "$src" "COPY (SELECT $lit, p - $off, mq.stream_end($lit, p)
			FROM generate_series($off, $((off + half - 1))) p) TO STDOUT" |
			psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "COPY mq_grow.part FROM STDIN"
		q "$src" "COPY (SELECT $lit, c.consumer_group, g.start, c.partition - $off, c.committed_position
			FROM mq.consumer_groups c JOIN mq._stream s ON s.stream_name = c.stream
				JOIN mq._stream_group g ON g.stream_id = s.stream_id AND g.group_name = c.consumer_group
			WHERE c.stream = $lit AND c.partition BETWEEN $off AND $((off + half - 1))) TO STDOUT" |
			psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "COPY mq_grow.grp FROM STDIN"
		q "${old[0]}" "COPY (SELECT stream, $half, retention, retention_bytes, unlogged, durability,
			min_replicas, owner FROM mq.streams WHERE stream = $lit) TO STDOUT" |
			psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "COPY mq_grow.stream FROM STDIN"
		q "${old[0]}" "COPY (SELECT object_name, grantee, privilege FROM mq.privileges
			WHERE object_type = 'stream' AND object_name = $lit) TO STDOUT" |
			psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "COPY mq_grow.grant FROM STDIN"
		# an exchange's binding to a stream lives on the node of the stream's name
		q "${old[$(( $(q "${old[0]}" "SELECT $(hash "$lit") & $((n - 1))") ))]}" \
			"COPY (SELECT destination, source, binding_key, arguments FROM mq.bindings
			WHERE destination_type = 'stream' AND destination = $lit) TO STDOUT" |
			psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "COPY mq_grow.binding FROM STDIN"
	done
	# every record staged once, before any node lets its stream go
	total=0
	for k in $(seq 0 $((n - 1))); do
		sel=$(q "${old[$k]}" "SELECT string_agg(format('SELECT count(*) FROM mq.%I',
				's_' || g.stream_id || '_' || g.segment), ' UNION ALL ')
			FROM mq._stream s JOIN mq._stream_segment g USING (stream_id) WHERE s.stream_name = $lit")
		total=$((total + $(q "${old[$k]}" "SELECT sum(count) FROM ($sel) c(count)")))
	done
	staged_n=0
	for j in $(seq 0 $((2 * n - 1))); do
		staged_n=$((staged_n + $(q "$(node_at "$j")" "SELECT count(*) FROM mq_grow.record WHERE stream = $lit")))
	done
	if [ "$staged_n" != "$total" ]; then
		echo "cluster_grow.sh: stream $name: $staged_n records staged of $total (were clients appending?); nothing changed, run again" >&2
		exit 1
	fi
	q "${old[0]}" "INSERT INTO mq_grow.staged VALUES ($lit)" >/dev/null
	say "  stream $name: $total records staged"
}

remake_stream() {	# j name: node j's stream made again from its staging, in one transaction
	local j=$1 dst lit
	dst=$(node_at "$1"); lit=$(literal "$2")
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$dst" -v stream="$2" \
		-v name_node="$(( $(q "$dst" "SELECT $(hash "$lit") & $mask") == j ))" <<'SQL' >/dev/null
SET client_min_messages = warning;
SET grow.stream = :'stream';
SET grow.name_node = :'name_node';
DO $$
DECLARE
	name text := current_setting('grow.stream');
	o mq_grow.stream;
	sid int;
	seg text;
	cg record;
BEGIN
	SELECT * INTO STRICT o FROM mq_grow.stream WHERE stream = name;
	PERFORM mq.drop_stream(name, if_exists => true);
	IF o.owner IS NOT NULL THEN
		EXECUTE format('SET LOCAL ROLE %I', o.owner);
	END IF;
	PERFORM mq.create_stream(name, o.partitions, o.retention, o.retention_bytes, o.unlogged,
							 o.durability, o.min_replicas);
	RESET ROLE;
	SELECT s.stream_id, format('mq.%I', 's_' || s.stream_id || '_' || max(g.segment)) INTO sid, seg
	FROM mq._stream s JOIN mq._stream_segment g USING (stream_id)
	WHERE s.stream_name = name GROUP BY s.stream_id;
	-- each record at its position, as a restored dump has them
	EXECUTE format('INSERT INTO %s (partition, position, key, headers, body, appended_at, payload,
					content_type, content_encoding, correlation_id, reply_to, sent_by)
				SELECT partition, position, key, headers, body, appended_at, payload, content_type,
					content_encoding, correlation_id, reply_to, sent_by
				FROM mq_grow.record WHERE stream = $1 ORDER BY partition, position', seg) USING name;
	-- each partition's end, past records that rolled back or were retained away:
	-- the next position is never below it
	INSERT INTO mq._stream_end (stream_id, partition, end_position, published_at)
	SELECT sid, partition, end_position, now() FROM mq_grow.part WHERE stream = name;
	FOR cg IN SELECT DISTINCT grp, start FROM mq_grow.grp WHERE stream = name ORDER BY grp LOOP
		PERFORM mq.create_consumer_group(name, cg.grp, cg.start);
	END LOOP;
	PERFORM mq.seek(name, grp, partition, position) FROM mq_grow.grp WHERE stream = name;
	PERFORM mq.grant(name, grantee, privilege) FROM mq_grow.grant WHERE stream = name;
	IF current_setting('grow.name_node') = '1' THEN
		PERFORM mq.bind(exchange, name, binding_key, arguments) FROM mq_grow.binding WHERE stream = name;
	END IF;
	DELETE FROM mq_grow.record WHERE stream = name;
	DELETE FROM mq_grow.part WHERE stream = name;
	DELETE FROM mq_grow.grp WHERE stream = name;
	DELETE FROM mq_grow.stream WHERE stream = name;
	DELETE FROM mq_grow.grant WHERE stream = name;
	DELETE FROM mq_grow.binding WHERE stream = name;
	DELETE FROM mq_grow.staged WHERE stream = name;
END
$$;
SQL
}

for name in "${grow_streams[@]}"; do
	staged "$name" || stage_stream "$name"
	# node 0 last: its staging holds the mark that every node was staged
	for j in $(seq $((2 * n - 1)) -1 0); do
		if q "$(node_at "$j")" "SELECT 1 FROM pg_namespace WHERE nspname = 'mq_grow'" | grep -q 1 &&
		   q "$(node_at "$j")" "SELECT 1 FROM mq_grow.stream WHERE stream = $(literal "$name")" | grep -q 1; then
			remake_stream "$j" "$name"
		fi
	done
	say "  stream $name: spread over $((2 * n)) nodes"
done
for j in $(seq 0 $((2 * n - 1))); do
	q "$(node_at "$j")" "DROP SCHEMA IF EXISTS mq_grow CASCADE" >/dev/null 2>&1 || true
done

say "done. Now, in the proxy database:"
opts=()
for k in $(seq 0 $((n - 1))); do
	opts+=("ADD p$((k + n)) '$(printf %s "${new[$k]}" | sed "s/'/''/g")'")
done
say "  ALTER SERVER mq_cluster OPTIONS ($(IFS=,; echo "${opts[*]}" | sed 's/,ADD/, ADD/g'));"
