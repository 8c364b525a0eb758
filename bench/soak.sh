#!/usr/bin/env bash
# Soak benchmark: a steady mixed load (4 clients; each transaction sends one
# message, or reads one and then acks it) over a 10,000-message backlog,
# once normally and once while another session holds a REPEATABLE READ
# snapshot for the whole run -- the long transaction that makes Postgres
# queues bloat.  The same load runs on mq, on a raw SKIP LOCKED table of the
# same shape, and on PgQ (insert_event; next_batch / get_batch_events /
# finish_batch with a ticker), one after the other on one throwaway cluster.
# SOAK_SYSTEMS=stream runs it on an mq stream instead: a send is an append, a
# consume a poll of one record and its commit (one consumer group, each
# client a consumer; retention 30 seconds, so segments come and go).
#
#   bash bench/soak.sh               # 10 minutes per run (+1 after each snapshot): about 65 min
#   SOAK_SECONDS=120 bash bench/soak.sh   # the quick mode: about 16 minutes
#
# SOAK_BACKLOG (10000) is the number of messages waiting when a run starts.
#
# SOAK_PAIRED=1 runs both modes of a system at once, each in a database of
# its own (the snapshot is held in the second: a snapshot holds back the
# clean-up of its own database's tables only), so that both see the same
# machine at the same moment and a window can be compared with the window
# of the other mode at the same second.  Each gets half the machine.
#
# A snapshot run goes on for SOAK_TAIL seconds (60) after the snapshot ends,
# with the same load: those windows are the mode "released", and show
# whether the clean-up of what the snapshot kept makes a storm.
#
# Every 10 s window gets: transactions per second, the latency p50/p99 of
# the consume transactions (read, then ack; PgQ: one batch), and the size
# (table + indexes) and n_dead_tup of the system's tables.  Results go to
# bench/soak.csv, a summary to bench/soak.md, the plot to bench/soak.png.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
MQ_PORT=${SOAK_PORT:-54349}
MQ_CLUSTER=/tmp/mq-soak-$MQ_PORT
DURATION=${SOAK_SECONDS:-600}
TAIL=${SOAK_TAIL:-60}
BACKLOG=${SOAK_BACKLOG:-10000}
PAIRED=${SOAK_PAIRED:-0}
# pgbench threads per run: the paired mode runs two at once
THREADS=$([ "$PAIRED" = 1 ] && echo 1 || echo 2)
[[ $BACKLOG =~ ^[1-9][0-9]*$ ]] || { echo "SOAK_BACKLOG: a number of messages" >&2; exit 2; }
CLIENTS=${SOAK_CLIENTS:-4}
SYSTEMS=${SOAK_SYSTEMS:-"mq raw pgq"}
WINDOW=10
BENCH=$MQ_ROOT/bench
OUT=${SOAK_OUT:-$BENCH/soak.csv}
export SOAK_MD SOAK_PNG SOAK_BACKLOG=$BACKLOG SOAK_PAIRED=$PAIRED

use_postgres
PGBENCH=$PG_BIN/pgbench
install_packages build-essential "postgresql-$PG_MAJOR-pgq3" gnuplot-nox
build_and_install
# durable settings, as users run it; autovacuum as shipped
MQ_EXTRA_CONF="shared_buffers = '1GB'
max_wal_size = '4GB'
mq.maintenance_interval = 1000
${SOAK_EXTRA_CONF:-}"
start_cluster
work=$(mktemp -d)
chmod 777 "$work"
holder=
cleanup() {
	if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; fi
	stop_cluster
	rm -rf "$work"
}
trap cleanup EXIT

# q SQL: in database $DB (soak unless set)
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "${DB:-soak}" -c "$1"; }
for db in soak $([ "$PAIRED" = 1 ] && echo soak_held); do
	psql -X -q -d postgres -c "CREATE DATABASE $db"
	DB=$db q "CREATE EXTENSION mq; CREATE EXTENSION pgq"
done

# the scripts: 1 is a send, 2 a consume, drawn with equal weights
cat > "$work/mq_send.sql" <<'SQL'
SELECT mq.send('soak', '{"order": 42, "note": "a message of the soak benchmark"}');
SQL
cat > "$work/mq_consume.sql" <<'SQL'
SELECT msg_id FROM mq.read('soak', 1, '30 seconds') \aset
SELECT mq.ack('soak', :msg_id);
SQL
cat > "$work/raw_send.sql" <<'SQL'
INSERT INTO raw (enqueued_at, vt, body)
	VALUES (clock_timestamp(), clock_timestamp(), '{"order": 42, "note": "a message of the soak benchmark"}');
SQL
cat > "$work/raw_consume.sql" <<'SQL'
UPDATE raw SET vt = clock_timestamp() + interval '30 seconds', read_ct = read_ct + 1
	WHERE msg_id = (SELECT msg_id FROM raw WHERE vt <= clock_timestamp()
					ORDER BY priority DESC, msg_id LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING msg_id \aset
DELETE FROM raw WHERE msg_id = :msg_id;
SQL
cat > "$work/stream_send.sql" <<'SQL'
SELECT * FROM mq.append('soaks', '{"order": 42, "note": "a message of the soak benchmark"}');
SQL
cat > "$work/stream_consume.sql" <<'SQL'
BEGIN;
SELECT coalesce(max(partition), -1) AS p, coalesce(max(position), -1) AS pos
	FROM mq.poll('soaks', 'g', 'c' || :client_id, 1) \gset
\if :p >= 0
SELECT mq.commit('soaks', 'g', 'c' || :client_id, :p, :pos + 1);
\endif
COMMIT;
SQL
cat > "$work/pgq_send.sql" <<'SQL'
SELECT pgq.insert_event('soakq', 'order', '{"order": 42, "note": "a message of the soak benchmark"}');
SQL
# PgQ hands a subscription's batches to one consumer at a time: the
# consume transaction takes the batch when no other client holds it (an
# advisory lock) and cuts batches itself (pgqd's job, the ticker)
cat > "$work/pgq_consume.sql" <<'SQL'
BEGIN;
SELECT pg_try_advisory_xact_lock(4242)::int AS got \gset
\if :got
SELECT pgq.ticker('soakq');
SELECT coalesce(pgq.next_batch('soakq', 'c'), -1) AS batch \gset
\if :batch >= 0
SELECT count(*) FROM pgq.get_batch_events(:batch);
SELECT pgq.finish_batch(:batch);
\endif
\endif
COMMIT;
SQL

# the backlog in batches of 10,000 (mq.max_batch_size): rows b, size
batches() {
	echo "(SELECT b, least(10000, $BACKLOG - (b - 1) * 10000) AS size
		FROM generate_series(1, ($BACKLOG + 9999) / 10000) b) batch"
}

# the message of every send in the backlogs
MSG='{"order": 42, "note": "a message of the soak benchmark"}'

# prepare SYSTEM: empty it and fill the backlog
prepare() {
	case $1 in
		mq)
			q "SELECT mq.drop_queue('soak', if_exists => true)" >/dev/null
			q "SELECT mq.create_queue('soak', visibility_timeout => '30 seconds')" >/dev/null
			q "SELECT sum(n) FROM $(batches), LATERAL (SELECT count(*) AS n FROM mq.send_batch('soak', ARRAY(SELECT '$MSG'::jsonb FROM generate_series(1, size)))) s" >/dev/null
			tables="relid::regclass::text IN ('mq.q_$(q "SELECT queue_id FROM mq._queue WHERE queue_name = 'soak'")')"
			;;
		stream)
			q "SELECT mq.drop_stream('soaks', if_exists => true)" >/dev/null
			q "SELECT mq.create_stream('soaks', partitions => 4, retention => '30 seconds')" >/dev/null
			q "SELECT sum(n) FROM $(batches), LATERAL (SELECT count(*) AS n FROM mq.append_batch('soaks', ARRAY(SELECT '$MSG'::jsonb FROM generate_series(1, size)))) s" >/dev/null
			q "SELECT mq.create_consumer_group('soaks', 'g', 'earliest')" >/dev/null
			# its segments come and go: every table of the stream, and the commits
			tables="(schemaname = 'mq' AND (relname LIKE 's\\_$(q "SELECT stream_id FROM mq._stream WHERE stream_name = 'soaks'")\\_%' OR relname = '_stream_commit'))"
			;;
		raw)
			q "DROP TABLE IF EXISTS raw" >/dev/null
			q "CREATE TABLE raw (msg_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
				read_ct int NOT NULL DEFAULT 0, enqueued_at timestamptz NOT NULL,
				vt timestamptz NOT NULL, priority int NOT NULL DEFAULT 0, group_key text,
				dedup_key text, headers jsonb, body jsonb NOT NULL) WITH (fillfactor = 80)"
			q "CREATE INDEX ON raw (priority DESC, msg_id)"
			q "INSERT INTO raw (enqueued_at, vt, body) SELECT clock_timestamp(), clock_timestamp(),
				'$MSG' FROM generate_series(1, $BACKLOG)"
			tables="relid::regclass::text IN ('raw')"
			;;
		pgq)
			q "SELECT pgq.drop_queue('soakq', true) FROM pgq.queue WHERE queue_name = 'soakq'" >/dev/null
			q "SELECT pgq.create_queue('soakq')" >/dev/null
			q "SELECT pgq.register_consumer('soakq', 'c')" >/dev/null
			q "SELECT count(pgq.insert_event('soakq', 'order', '{\"order\": 42}')) FROM generate_series(1, $BACKLOG)" >/dev/null
			q "SELECT pgq.ticker('soakq')" >/dev/null
			tables="relid::regclass::text IN ($(q "SELECT string_agg(quote_literal(format('%I.%I', n.nspname, c.relname)), ',')
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = 'pgq' AND c.relkind = 'r'
				  AND (c.relname LIKE 'event_%' OR c.relname IN ('subscription', 'tick'))"))"
			;;
	esac
	q "VACUUM ANALYZE" >/dev/null
	q "CHECKPOINT" >/dev/null
}

# sample SYSTEM MODE: every WINDOW seconds, the size and dead tuples of its
# tables (those of $tables in database $DB)
sample() {
	local system=$1 mode=$2 t=0
	while sleep "$WINDOW"; do
		t=$((t + WINDOW))
		q "SELECT '$system,$mode,$t,' || sum(pg_total_relation_size(relid)) || ',' || sum(n_dead_tup)
			FROM pg_stat_user_tables WHERE $tables" >> "$work/sizes.$mode" || true
	done
}

# run_set SYSTEM MODE:DATABASE...: the load on SYSTEM in each database at
# once ("snapshot": while a session there holds a snapshot), and their
# windows, on one clock, into OUT
run_set() {
	local system=$1 set=${*:2} m length=$DURATION held=
	local -A tables_of
	for m in $set; do
		say "$system, ${m%%:*} (database ${m#*:}): $DURATION s of $CLIENTS clients"
		DB=${m#*:} prepare "$system"
		tables_of[${m%%:*}]=$tables
		if [ "${m%%:*}" = snapshot ]; then held=${m#*:}; fi
	done
	if [ -n "$held" ]; then
		# another session's snapshot, held for the whole run; the session
		# ends it itself when the run's DURATION is over, and the load
		# goes on for TAIL seconds
		psql -X -q -d "$held" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
			-c "SELECT count(*) FROM pg_class" -c "SELECT pg_sleep($DURATION + 1)" \
			>/dev/null 2>&1 &
		holder=$!
		sleep 1
		length=$((DURATION + TAIL))
	fi
	local samplers=() benches=()
	rm -f "$work"/log.* "$work"/sizes.*
	for m in $set; do
		DB=${m#*:} tables=${tables_of[${m%%:*}]} sample "$system" "${m%%:*}" &
		samplers+=($!)
	done
	for m in $set; do
		(cd "$work" && "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$length" \
			-l --log-prefix="$work/log.${m%%:*}" \
			-f "$work/${system}_send.sql@1" -f "$work/${system}_consume.sql@1" "${m#*:}" \
			> "$work/pgbench.${m%%:*}.out" 2>&1) ||
			{ echo "pgbench failed:"; tail -5 "$work/pgbench.${m%%:*}.out"; } &
		benches+=($!)
	done
	wait "${benches[@]}"
	kill "${samplers[@]}" 2>/dev/null || true
	wait "${samplers[@]}" 2>/dev/null || true
	if [ -n "$holder" ]; then
		kill "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
		holder=
		DB=$held q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			  AND backend_type = 'client backend'" >/dev/null
	fi
	# per window, from pgbench's per-transaction logs (client, transaction,
	# latency in us, script: 0 send / 1 consume, epoch s, us): all
	# transactions for the rate, the consumes for the latency; the windows
	# of every mode count from the first transaction of the set
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP TABLE IF EXISTS soak_tx" \
		-c "CREATE UNLOGGED TABLE soak_tx (mode text, client int, tx bigint, latency bigint, script int, s bigint, us bigint)"
	for m in $set; do
		cat "$work/log.${m%%:*}".* | sed "s/^/${m%%:*} /" |
			psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "\\copy soak_tx FROM STDIN WITH (DELIMITER ' ')"
	done
	for m in $set; do
		m=${m%%:*}
		psql -X -q -At -F, -v ON_ERROR_STOP=1 -d postgres -c "
			WITH t AS (SELECT *, (s - min(s) OVER ()) / $WINDOW AS w FROM soak_tx)
			SELECT (w + 1) * $WINDOW, round(count(*) / $WINDOW.0),
				   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) FILTER (WHERE script = 1) / 1000)::numeric, 2),
				   round((percentile_cont(0.99) WITHIN GROUP (ORDER BY latency) FILTER (WHERE script = 1) / 1000)::numeric, 2)
			FROM t WHERE mode = '$m' AND (w + 1) * $WINDOW <= $length GROUP BY w ORDER BY w" > "$work/windows.csv"
		join -t, -j1 <(sort -t, -k1,1 "$work/windows.csv") \
			<(cut -d, -f3- "$work/sizes.$m" | sort -t, -k1,1) |
			sort -t, -k1,1n |
			awk -F, -v OFS=, -v s="$system" -v m="$m" -v d="$DURATION" \
				'{ print s, (m == "snapshot" && $1 > d ? "released" : m), $0 }' >> "$OUT"
		grep -c "^$system,$m," "$OUT" | sed "s/^/windows $m: /"
	done
}

echo "system,mode,second,tps,consume_p50_ms,consume_p99_ms,bytes,dead_tuples" > "$OUT"
for system in $SYSTEMS; do
	if [ "$PAIRED" = 1 ]; then
		run_set "$system" normal:soak snapshot:soak_held
	else
		run_set "$system" normal:soak
		run_set "$system" snapshot:soak
	fi
done

say "summary and plot"
bash "$BENCH/soak_report.sh" "$OUT"
