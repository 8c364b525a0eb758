#!/usr/bin/env bash
# Concurrency stress checks against a running server (PGHOST/PGPORT/PGUSER
# set), with pgbench driving many clients at once.  Each check prints
# "ok - ..." or "not ok - ..."; the outcome never depends on timing, only on
# whether mq kept its promises.
set -uo pipefail
PGBENCH=${PGBENCH:-pgbench}	# scripts/test.sh puts the server's bindir first on PATH
DB=mq_stress
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0

check() {	# check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		echo "ok - $1"; passed=$((passed + 1))
	else
		echo "not ok - $1: expected '$2', got '$3'"; failed=$((failed + 1))
	fi
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB -c "$1"; }

# holders QUEUE GROUPS MESSAGES CLIENTS TRANSACTIONS: GROUPS groups of
# MESSAGES messages; CLIENTS consumers each lease one message, then (holding
# it, committed) count the other leased messages of its group into table
# QUEUE_seen, then ack it, in separate transactions.  Sets $id and $rc.
holders() {
	local queue=$1 groups=$2 messages=$3 clients=$4 transactions=$5
	q "SELECT count(*) FROM mq.send_batch('$queue', ARRAY(SELECT jsonb_build_object('n', n) FROM generate_series(1, $messages) n), group_keys => ARRAY(SELECT 'g' || (n % $groups) FROM generate_series(1, $messages) n))" >/dev/null
	id=$(q "SELECT queue_id FROM mq._queue WHERE queue_name = '$queue'")
	q "CREATE TABLE ${queue}_seen (msg_id bigint, others bigint)"
	cat > "$dir/$queue.sql" <<SQL
SELECT coalesce((SELECT msg_id FROM mq.read('$queue', 1)), 0) AS id \\gset
\\if :id > 0
INSERT INTO ${queue}_seen SELECT :id, count(*) FROM mq.q_$id o
	WHERE o.group_key = (SELECT group_key FROM mq.q_$id WHERE msg_id = :id)
	AND o.msg_id <> :id AND o.read_ct > 0 AND o.vt > clock_timestamp();
SELECT mq.ack('$queue', :id);
\\endif
SQL
	if "$PGBENCH" -n -c "$clients" -j 2 -t "$transactions" -f "$dir/$queue.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
}

psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
q "CREATE EXTENSION mq"

# 1. 16 concurrent senders of the same 50 keys, one send per transaction:
#    exactly one message per key, and no sender ever sees an error.
q "SELECT mq.create_queue('dedup16', dedup_window => '1 hour')" >/dev/null
cat > "$dir/dedup.sql" <<'SQL'
\set k random(1, 50)
SELECT mq.send('dedup16', jsonb_build_object('k', :k), dedup_key => 'key-' || :k);
SQL
if "$PGBENCH" -n -c 16 -j 2 -t 200 -f "$dir/dedup.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "16 concurrent senders of one key: no error" 0 "$rc"
check "16 concurrent senders of one key: one message per key" "50 50" \
	"$(q "SELECT count(*) || ' ' || count(DISTINCT dedup_key) FROM mq.read('dedup16', 10000, '1 hour')")"

# 2. Senders and ackers racing on the same keys (acked keys stay deduped for
#    the window): every key enters the queue at most once, ever.
q "SELECT mq.create_queue('dedupack', archive => true, visibility_timeout => '1 hour')" >/dev/null
cat > "$dir/send.sql" <<'SQL'
\set k random(1, 100)
SELECT mq.send('dedupack', '{}', dedup_key => 'key-' || :k);
SQL
cat > "$dir/ack.sql" <<'SQL'
SELECT mq.ack('dedupack', msg_id) FROM mq.read('dedupack', 1);
SQL
if "$PGBENCH" -n -c 8 -j 2 -t 300 -f "$dir/send.sql" -f "$dir/ack.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "senders racing ackers: no error" 0 "$rc"
check "senders racing ackers: each of 100 keys entered exactly once" "100 100" \
	"$(q "SELECT count(*) || ' ' || count(DISTINCT dedup_key) FROM (SELECT dedup_key FROM mq.a_$(q "SELECT queue_id FROM mq._queue WHERE queue_name = 'dedupack'") UNION ALL SELECT dedup_key FROM mq.read('dedupack', 10000)) s")"

# 3. 16 consumers on one queue with long leases: each message is delivered
#    exactly once (archived with read_ct 1), none is lost.
q "SELECT mq.create_queue('once', archive => true, visibility_timeout => '1 hour')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('once', ARRAY(SELECT jsonb_build_object('n', n) FROM generate_series(1, 3000) n))" >/dev/null
cat > "$dir/consume.sql" <<'SQL'
SELECT mq.ack('once', msg_id) FROM mq.read('once', 2);
SQL
if "$PGBENCH" -n -c 16 -j 2 -t 120 -f "$dir/consume.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "16 consumers: no error" 0 "$rc"
id=$(q "SELECT queue_id FROM mq._queue WHERE queue_name = 'once'")
check "16 consumers: every message delivered exactly once" "3000 3000 1" \
	"$(q "SELECT count(*) || ' ' || count(DISTINCT body) || ' ' || max(read_ct) FROM (SELECT body, read_ct FROM mq.a_$id UNION ALL SELECT body, read_ct FROM mq.read('once', 10000)) s")"

# 4. FIFO with 8 consumers: a group never has two messages delivered out of
#    order (each group's acked msg_ids, in ack order, increase).
q "SELECT mq.create_queue('fifo8', fifo => true, archive => true, visibility_timeout => '1 hour')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('fifo8', ARRAY(SELECT jsonb_build_object('n', n) FROM generate_series(1, 1000) n), group_keys => ARRAY(SELECT 'g' || (n % 10) FROM generate_series(1, 1000) n))" >/dev/null
cat > "$dir/fifo.sql" <<'SQL'
SELECT mq.ack('fifo8', msg_id) FROM mq.read('fifo8', 3);
SQL
if "$PGBENCH" -n -c 8 -j 2 -t 300 -f "$dir/fifo.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "fifo with 8 consumers: no error" 0 "$rc"
id=$(q "SELECT queue_id FROM mq._queue WHERE queue_name = 'fifo8'")
check "fifo with 8 consumers: none lost, each group acked in send order" "1000 0" \
	"$(q "SELECT count(*) + (SELECT queue_length FROM mq.metrics('fifo8')) || ' ' || count(*) FILTER (WHERE back) FROM (SELECT msg_id < lag(msg_id) OVER (PARTITION BY group_key ORDER BY archived_at, msg_id) AS back FROM mq.a_$id) s")"

# 5. Senders of random priorities racing consumers, with reads trusting the
#    shared scan hint for an hour: a message that a hint passed over would
#    stay hidden, so "every message sent is acked or read at the end, once"
#    checks that every send moves the hint back where needed.
q "SELECT mq.create_queue('mixed', archive => true, visibility_timeout => '1 hour')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('mixed', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 500)))" >/dev/null
cat > "$dir/msend.sql" <<'SQL'
\set p random(0, 3)
SELECT mq.send('mixed', '{}', priority => :p);
SQL
cat > "$dir/mbatch.sql" <<'SQL'
\set p random(0, 3)
SELECT count(*) FROM mq.send_batch('mixed', ARRAY['{}', '{}', '{}']::jsonb[], priority => :p);
SQL
cat > "$dir/mconsume.sql" <<'SQL'
SELECT mq.ack('mixed', msg_id) FROM mq.read('mixed', 2);
SQL
if PGOPTIONS="-c mq.scan_hint_max_age=3600000" "$PGBENCH" -n -c 8 -j 2 -t 400 \
	-f "$dir/msend.sql" -f "$dir/mbatch.sql" -f "$dir/mconsume.sql@2" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "senders of random priorities racing consumers: no error" 0 "$rc"
id=$(q "SELECT queue_id FROM mq._queue WHERE queue_name = 'mixed'")
check "senders of random priorities racing consumers: every message acked or read once" "t" \
	"$(PGOPTIONS="-c mq.scan_hint_max_age=3600000" q "SELECT count(*) = count(DISTINCT msg_id) AND count(*) = (SELECT last_value FROM mq.q_${id}_msg_id_seq) FROM (SELECT msg_id FROM mq.a_$id UNION ALL SELECT msg_id FROM mq.read('mixed', 10000)) s")"

# 6. FIFO leases and acks in separate transactions, 16 consumers, 10 groups:
#    while a consumer holds a message, no other message of its group is
#    leased (each consumer looks, holding its own, and notes what it sees).
q "SELECT mq.create_queue('fifo16', fifo => true, visibility_timeout => '1 hour')" >/dev/null
holders fifo16 10 2000 16 250
check "fifo, lease and ack apart, 16 consumers: no error" 0 "$rc"
check "fifo, lease and ack apart, 16 consumers: never two of a group leased at once" "0" \
	"$(q "SELECT count(*) FILTER (WHERE others > 0) FROM fifo16_seen")"
check "fifo, lease and ack apart, 16 consumers: every message taken once, or still there" "t" \
	"$(q "SELECT count(*) = count(DISTINCT msg_id) AND count(*) + (SELECT count(*) FROM mq.q_$id) = 2000 FROM fifo16_seen")"

# 7. Drivers that prepare statements with untyped parameters (pgbench -M
#    prepared, node-postgres): mq.ack($1, $2) has one signature, so it
#    resolves without casts; the batch forms are *_batch.
q "SELECT mq.create_queue('untyped', visibility_timeout => '1 hour')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('untyped', ARRAY(SELECT jsonb_build_object('n', n) FROM generate_series(1, 400) n))" >/dev/null
cat > "$dir/untyped.sql" <<'SQL'
\set id random(1, 400)
SELECT mq.ack('untyped', :id);
SELECT count(*) FROM mq.ack_batch('untyped', ARRAY[:id]::bigint[]);
SQL
if "$PGBENCH" -n -M prepared -c 4 -j 2 -t 50 -f "$dir/untyped.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; cat "$dir/out"; fi
check "pgbench -M prepared: mq.ack with untyped parameters" 0 "$rc"

# 8. group_concurrency = 3, leases and acks in separate transactions, 16
#    consumers, 3 groups (9 leases for 16 consumers): while a consumer holds
#    a message, at most 2 other messages of its group are leased (each
#    consumer looks, holding its own, and notes what it sees); the limit is
#    reached, and nothing is lost.
q "SELECT mq.create_queue('gc16', group_concurrency => 3, visibility_timeout => '1 hour')" >/dev/null
holders gc16 3 3000 16 150
check "group_concurrency 3, lease and ack apart, 16 consumers: no error" 0 "$rc"
check "group_concurrency 3, lease and ack apart, 16 consumers: never more than 3 of a group leased, 3 reached" "2" \
	"$(q "SELECT max(others) FROM gc16_seen")"
check "group_concurrency 3, lease and ack apart, 16 consumers: every message taken once, or still there" "t" \
	"$(q "SELECT count(*) = count(DISTINCT msg_id) AND count(*) + (SELECT count(*) FROM mq.q_$id) = 3000 FROM gc16_seen")"

# 9. A fair queue where one group holds 99% of the backlog (3,000 messages,
#    sent first) and 40 other groups one message each: under 16 consumers,
#    every other group's message is among the first 2 x (41 groups + 16
#    consumers) = 114 deliveries (README, "Fair queues": the bound).
q "SELECT mq.create_queue('fair16', fair => true, visibility_timeout => '1 hour')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('fair16', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 3000)), group_keys => array_fill('big'::text, ARRAY[3000]))" >/dev/null
q "SELECT count(*) FROM mq.send_batch('fair16', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 40)), group_keys => ARRAY(SELECT 'small' || n FROM generate_series(1, 40) n))" >/dev/null
q "CREATE SEQUENCE fair16_seq"
q "CREATE TABLE fair16_seen (seq bigint, group_key text)"
cat > "$dir/fair16.sql" <<'SQL'
INSERT INTO fair16_seen SELECT nextval('fair16_seq'), group_key FROM mq.pop('fair16', 1);
SQL
if "$PGBENCH" -n -c 16 -j 2 -t 20 -f "$dir/fair16.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "fair queue, 16 consumers: no error" 0 "$rc"
check "fair queue, 16 consumers: each of 40 small groups served within 114 deliveries" "40" \
	"$(q "SELECT count(DISTINCT group_key) FROM fair16_seen WHERE group_key <> 'big' AND seq <= 114")"

# 10. rate_limit = 40 per second, 16 greedy consumers (half of them waiting
#     reads) for 10 seconds: the deliveries are within 5% of 40 per second
#     of the run plus the burst of 40.
q "SELECT mq.create_queue('rate16', rate_limit => 40, visibility_timeout => '1 hour')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('rate16', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 2000)))" >/dev/null
q "CREATE TABLE rate16_seen (msg_id bigint, at timestamptz)"
cat > "$dir/rate16.sql" <<'SQL'
INSERT INTO rate16_seen SELECT msg_id, clock_timestamp() FROM mq.read('rate16', 5);
SQL
cat > "$dir/rate16w.sql" <<'SQL'
INSERT INTO rate16_seen SELECT msg_id, clock_timestamp() FROM mq.read('rate16', 5, wait => '500 ms');
SQL
if "$PGBENCH" -n -c 16 -j 2 -T 10 -f "$dir/rate16.sql" -f "$dir/rate16w.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "rate limit, 16 greedy consumers for 10 s: no error" 0 "$rc"
check "rate limit, 16 greedy consumers for 10 s: deliveries within 5% of 40/s plus the burst" "t" \
	"$(q "SELECT abs(count(*) - (40 + 40 * extract(epoch FROM max(at) - min(at)))) <= 0.05 * (40 + 40 * extract(epoch FROM max(at) - min(at))) AND count(*) = count(DISTINCT msg_id) FROM rate16_seen")"

# 11. A stream, 16 clients: appends in transactions that commit out of order
#     (each sleeps a little before its commit) and readers that go on from
#     the last position they saw: no reader ever passes a position that
#     later turns up (every committed position up to what a reader has seen
#     was seen by it).
q "SELECT mq.create_stream('st16')" >/dev/null
q "CREATE TABLE st16_seen (reader int, position bigint)"
cat > "$dir/st16a.sql" <<'SQL'
BEGIN;
SELECT mq.append('st16', '{}');
SELECT pg_sleep(random() * 0.003);
COMMIT;
SQL
cat > "$dir/st16r.sql" <<'SQL'
SELECT coalesce(max(position) + 1, 0) AS f FROM st16_seen WHERE reader = :client_id \gset
INSERT INTO st16_seen SELECT :client_id, position FROM mq.read_stream('st16', 0, :f, 50);
SQL
if "$PGBENCH" -n -c 16 -j 2 -t 200 -f "$dir/st16a.sql" -f "$dir/st16r.sql" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "stream, appends committing out of order and readers, 16 clients: no error" 0 "$rc"
check "stream, appends committing out of order and readers, 16 clients: no reader passed a position" "0" \
	"$(q "SELECT count(*) FROM (SELECT reader, max(position) AS last, count(*) AS seen FROM st16_seen GROUP BY reader) r WHERE r.seen <> (SELECT count(*) FROM mq.read_stream('st16', 0, 0, 10000) x WHERE x.position <= r.last)")"

# group_consumer STREAM: a procedure STREAM_consume(me, wait, n) that polls up
# to n records of group g for consumer me, writes them into STREAM_done and
# commits their positions, in one transaction; a commit refused by fencing
# rolls the batch back (and counts it in STREAM_fenced).
group_consumer() {
	local s=$1
	q "CREATE TABLE ${s}_done (partition int, position bigint)"
	q "CREATE TABLE ${s}_fenced (n int)"
	q "CREATE PROCEDURE ${s}_consume(me text, wait interval, n int DEFAULT 5) LANGUAGE plpgsql AS \$\$
DECLARE ps int[]; qs bigint[];
BEGIN
	SELECT array_agg(partition), array_agg(position) INTO ps, qs
	FROM mq.poll('$s', 'g', me, n, wait => wait, session_timeout => '1 s');
	IF ps IS NOT NULL THEN
		INSERT INTO ${s}_done SELECT p, q FROM unnest(ps, qs) AS u(p, q);
		PERFORM mq.commit('$s', 'g', me, p, max(q) + 1) FROM unnest(ps, qs) AS u(p, q) GROUP BY p;
	END IF;
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	INSERT INTO ${s}_fenced VALUES (1);
END \$\$"
}
# drain STREAM: one consumer takes what is left (the others' sessions ended)
drain() {
	for i in $(seq 1 100); do
		q "CALL $1_consume('drain', '200 ms', 1000)"
		[ "$(q "SELECT sum(lag) FROM mq.consumer_groups WHERE stream = '$1'")" = "0" ] && break
	done
}
# exactly_once STREAM: t when every record appended has exactly one result
exactly_once() {
	q "SELECT CASE WHEN count(*) = count(DISTINCT (partition, position)) AND count(*) = e THEN 't'
		ELSE format('f (%s results, %s distinct, %s appended)', count(*), count(DISTINCT (partition, position)), e) END
		FROM $1_done, (SELECT sum(end_position) AS e FROM mq.consumer_groups WHERE stream = '$1') x GROUP BY e"
}

# 12. A consumer group of 16 consumers on 8 partitions, appends going on:
#     each transaction polls, writes its results and commits its positions
#     (a commit refused by fencing rolls the whole batch back).  At the end
#     every record has exactly one result: no record was processed by two
#     holders, none was skipped.
q "SELECT mq.create_stream('sg16', partitions => 8)" >/dev/null
q "SELECT count(*) FROM mq.append_batch('sg16', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 2000)))" >/dev/null
q "SELECT mq.create_consumer_group('sg16', 'g', 'earliest')" >/dev/null
group_consumer sg16
cat > "$dir/sg16c.sql" <<'SQL'
CALL sg16_consume('c' || :client_id, '0');
SQL
cat > "$dir/sg16a.sql" <<'SQL'
SELECT count(*) FROM mq.append_batch('sg16', ARRAY['{}', '{}', '{}']::jsonb[]);
SQL
if "$PGBENCH" -n -c 16 -j 2 -t 150 -f "$dir/sg16c.sql@4" -f "$dir/sg16a.sql@1" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
check "consumer group, 16 consumers on 8 partitions, appends going on: no error" 0 "$rc"
# what is left: one consumer, once the others' sessions have ended
sleep 2
drain sg16
check "consumer group, 16 consumers on 8 partitions, appends going on: every record processed exactly once" "t" \
	"$(exactly_once sg16)"

# 13. The same while segments switch under it: a loop opens a new segment
#     (the worker's rotation, forced by ageing the newest) 40 times while
#     16 clients append, poll and commit, so they race the switches (an append
#     that looked the stream up before a switch writes into the old
#     segment).  Every record is still processed exactly once.
q "SELECT mq.create_stream('sg13', partitions => 4, retention => '8 days')" >/dev/null
q "SELECT mq.create_consumer_group('sg13', 'g', 'earliest')" >/dev/null
group_consumer sg13
cat > "$dir/sg13c.sql" <<'SQL'
CALL sg13_consume('c' || :client_id, '0');
SQL
cat > "$dir/sg13a.sql" <<'SQL'
SELECT count(*) FROM mq.append_batch('sg13', ARRAY['{}', '{}', '{}']::jsonb[]);
SQL
cat > "$dir/sg13r.sql" <<'SQL'
SELECT count(*) FROM mq.append('sg13', '{"by": "rotator"}');
UPDATE mq._stream_segment SET opened_at = now() - interval '2 days'
WHERE stream_id = (SELECT stream_id FROM mq._stream WHERE stream_name = 'sg13')
  AND segment = (SELECT max(segment) FROM mq._stream_segment
				 WHERE stream_id = (SELECT stream_id FROM mq._stream WHERE stream_name = 'sg13'));
SELECT mq._maintain_streams();
SQL
# 40 switches (each run appends a record first, so the newest is never empty)
"$PGBENCH" -n -c 1 -t 40 -f "$dir/sg13r.sql" $DB >"$dir/rot" 2>&1 &
rotator=$!
if "$PGBENCH" -n -c 16 -j 2 -t 150 -f "$dir/sg13c.sql@4" -f "$dir/sg13a.sql@1" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
wait $rotator
check "consumer group while segments switch, 16 clients: no error" 0 "$rc"
sleep 2
drain sg13
check "consumer group while segments switch, 16 clients: many switches, every record processed exactly once" "t t" \
	"$(q "SELECT count(*) > 10 FROM mq._stream_segment WHERE stream_id = (SELECT stream_id FROM mq._stream WHERE stream_name = 'sg13')") $(exactly_once sg13)"

# 14. Compaction (copy, TRUNCATE, copy back) 40 times while 16 clients send,
#     lease and, in a transaction of its own, ack (so leases are committed and
#     held across compactions): every message is delivered exactly once
#     (archived with read_ct 1), none is lost, none comes back.
q "SELECT mq.create_queue('cmp', archive => true, visibility_timeout => '1 hour')" >/dev/null
q "CREATE SEQUENCE cmp_n"
q "SELECT count(*) FROM mq.send_batch('cmp', ARRAY(SELECT jsonb_build_object('n', nextval('cmp_n')) FROM generate_series(1, 2000)))" >/dev/null
cat > "$dir/cmpc.sql" <<'SQL'
SELECT coalesce((SELECT msg_id FROM mq.read('cmp', 1)), 0) AS id \gset
\if :id > 0
SELECT mq.ack('cmp', :id);
\endif
SQL
cat > "$dir/cmps.sql" <<'SQL'
SELECT count(*) FROM mq.send_batch('cmp', ARRAY(SELECT jsonb_build_object('n', nextval('cmp_n')) FROM generate_series(1, 3)));
SQL
cat > "$dir/cmpk.sql" <<'SQL'
SELECT mq.compact_queue('cmp');
SQL
"$PGBENCH" -n -c 1 -t 40 -f "$dir/cmpk.sql" $DB >"$dir/cmpk" 2>&1 &
compactor=$!
if "$PGBENCH" -n -c 16 -j 2 -t 200 -f "$dir/cmpc.sql@3" -f "$dir/cmps.sql@1" $DB >"$dir/out" 2>&1; then rc=0; else rc=$?; fi
if wait $compactor; then krc=0; else krc=$?; fi
check "compaction 40 times under 16 clients: no error" "0 0" "$rc $krc"
id=$(q "SELECT queue_id FROM mq._queue WHERE queue_name = 'cmp'")
check "compaction 40 times under 16 clients: every message delivered exactly once, none lost" "t" \
	"$(q "SELECT count(*) = (SELECT last_value FROM cmp_n) AND count(DISTINCT body) = count(*) AND max(read_ct) = 1 FROM (SELECT body, read_ct FROM mq.a_$id UNION ALL SELECT body, read_ct FROM mq.read('cmp', 10000)) s")"

psql -X -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
echo "stress: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
