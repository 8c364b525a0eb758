/*
 * maintain.sql: timed work on queues -- dead letters, expiry, retention,
 * dedup keys -- that the worker runs (worker.c) and superusers may.
 */

/* one queue's dead letters and expired messages (queue.c) */
CREATE OR REPLACE FUNCTION mq._sweep(queue text, OUT dead_lettered bigint, OUT expired bigint)
	AS 'MODULE_PATHNAME', 'mq_sweep' LANGUAGE C VOLATILE;

/*
 * Every queue's timed work; one queue's failure (say, options that put "now
 * minus an interval" out of range) is a warning, and the others go on.
 *
 * The work never waits for another transaction's lock: a queue whose
 * tables (or whose dead-letter queue's table) another transaction has
 * locked -- a compaction or a drop left open, say -- is skipped with a
 * NOTICE and maintained on a later run, so one idle transaction cannot stop
 * every other queue's expiry, dead letters and the worker's NOTIFYs.  The
 * lock_timeout covers the locks taken on the way (rows, the archive).  A
 * queue that keeps failing warns once per mq._maintain_warning()'s period.
 */
CREATE OR REPLACE FUNCTION mq._maintain(
	OUT queue_name text,
	OUT dead_lettered bigint,
	OUT expired bigint,
	OUT archive_deleted bigint,
	OUT dedup_keys_pruned bigint)
RETURNS SETOF record
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '100ms'
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.maintain()') IS NULL;
	q mq._queue;
	err text;
	state text;
BEGIN
	FOR q IN SELECT * FROM mq._queue ORDER BY mq._queue.queue_name LOOP
		queue_name := q.queue_name;
		dead_lettered := 0;
		expired := 0;
		archive_deleted := 0;
		dedup_keys_pruned := 0;
		/* one queue's failure must not stop the others' maintenance */
		BEGIN
			EXECUTE format('LOCK TABLE mq.%I, mq.%I, mq.%I IN ROW EXCLUSIVE MODE NOWAIT',
						   'q_' || q.queue_id, 'a_' || q.queue_id, 'd_' || q.queue_id);
			IF q.dead_letter_queue_id IS NOT NULL THEN
				EXECUTE format('LOCK TABLE mq.%I IN ROW EXCLUSIVE MODE NOWAIT',
							   'q_' || q.dead_letter_queue_id);
			END IF;
			IF q.max_receives IS NOT NULL OR q.message_ttl IS NOT NULL THEN
				SELECT s.dead_lettered, s.expired INTO dead_lettered, expired
					FROM mq._sweep(q.queue_name) s;
			END IF;
			IF q.retention IS NOT NULL THEN
				EXECUTE format('DELETE FROM mq.%I WHERE archived_at < $1', 'a_' || q.queue_id)
					USING clock_timestamp() - q.retention;
				GET DIAGNOSTICS archive_deleted = ROW_COUNT;
			END IF;
			EXECUTE format('DELETE FROM mq.%I WHERE removed_at <= $1', 'd_' || q.queue_id)
				USING clock_timestamp() - q.dedup_window;
			GET DIAGNOSTICS dedup_keys_pruned = ROW_COUNT;
		EXCEPTION
			WHEN lock_not_available THEN
				RAISE NOTICE 'mq.maintain() skipped queue "%": another transaction holds a lock on its tables', q.queue_name
					USING HINT = 'The queue is maintained on a later run, once that transaction ends.';
				CONTINUE;
			WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
				PERFORM mq._maintain_warning(q.queue_id, q.queue_name, state, err);
				CONTINUE;
		END;
		RETURN NEXT;
	END LOOP;
END;
$$;

/*
 * The WARNING of a queue mq._maintain() skipped for an error: the first,
 * and then at most one every 10 minutes for the same queue and error (with
 * how many were held back), so the worker does not log it every second.
 */
CREATE OR REPLACE FUNCTION mq._maintain_warning(queue_id int, queue_name text, sqlstate text,
												message text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_maintain_warning' LANGUAGE C STRICT VOLATILE;

/* the entry point (mq_manage() calls the body) */
CREATE OR REPLACE FUNCTION mq.maintain(
	OUT queue_name text,
	OUT dead_lettered bigint,
	OUT expired bigint,
	OUT archive_deleted bigint,
	OUT dedup_keys_pruned bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.maintain()
	IS 'Timed work for every queue: dead letters, expiry, retention, dedup keys (the workers run it).';

/*
 * The earliest moment at which the timed work of this database has
 * something to do, for the worker to sleep until (NULL: nothing is due
 * until a commit changes something).  What it reckons, as mq.maintain()
 * and mq._maintain_streams() decide it:
 *  - on a queue with max_receives, a message read that often: the end of
 *    its lease (it is dead-lettered then);
 *  - on a queue with message_ttl or max_receives, a message's expiry
 *    (enqueued_at + message_ttl, or its own expires_at), once it is not
 *    leased (a message never read expires even while delayed);
 *  - archive retention: the oldest archived message's archived_at +
 *    retention; dedup keys: the oldest removed_at + dedup_window;
 *  - a stream with a retention: the newest segment, if it holds records,
 *    at opened_at + retention / 8 (a new segment); the oldest segment at
 *    its successor's opened_at + retention (dropped).
 * Anything due at or before horizon (the worker's next round anyway) ends
 * the reckoning early.  A table another transaction holds locked (a
 * compaction or a drop left open) counts as due now: the worker comes
 * back after its interval, as mq.maintain() does.  A queue whose tables
 * fail is left out (mq.maintain() warns about it).  Each look is one scan
 * of a queue table with a deadline option (as the sweep), and of archives
 * and dedup tables that hold rows.
 */
CREATE OR REPLACE FUNCTION mq._next_due(horizon timestamptz) RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q mq._queue;
	s mq._stream;
	due timestamptz;
	t timestamptz;
	newest int;
	newest_opened timestamptz;
	has_rows bool;
BEGIN
	FOR q IN SELECT * FROM mq._queue ORDER BY mq._queue.queue_id LOOP
		BEGIN
			EXECUTE format('LOCK TABLE mq.%I, mq.%I, mq.%I IN ACCESS SHARE MODE NOWAIT',
						   'q_' || q.queue_id, 'a_' || q.queue_id, 'd_' || q.queue_id);
			IF q.max_receives IS NOT NULL OR q.message_ttl IS NOT NULL THEN
				EXECUTE format($q$
					SELECT min(LEAST(
						CASE WHEN m.read_ct >= $1 THEN m.vt END,
						CASE WHEN LEAST(m.enqueued_at + $2, m.expires_at) IS NOT NULL
							 THEN GREATEST(LEAST(m.enqueued_at + $2, m.expires_at),
										   CASE WHEN m.read_ct = 0 THEN '-infinity'::timestamptz
												ELSE m.vt END)
						END))
					FROM mq.%I m$q$, 'q_' || q.queue_id)
					INTO t USING q.max_receives, q.message_ttl;
				due := LEAST(due, t);
			END IF;
			IF q.retention IS NOT NULL THEN
				EXECUTE format('SELECT min(archived_at) + $1 FROM mq.%I', 'a_' || q.queue_id)
					INTO t USING q.retention;
				due := LEAST(due, t);
			END IF;
			IF q.dedup_window IS NOT NULL THEN
				EXECUTE format('SELECT min(removed_at) + $1 FROM mq.%I', 'd_' || q.queue_id)
					INTO t USING q.dedup_window;
				due := LEAST(due, t);
			END IF;
		EXCEPTION
			WHEN lock_not_available THEN
				RETURN horizon;
			WHEN OTHERS THEN
				NULL;
		END;
		IF due <= horizon THEN
			RETURN due;
		END IF;
	END LOOP;
	FOR s IN SELECT * FROM mq._stream ORDER BY mq._stream.stream_id LOOP
		CONTINUE WHEN s.retention IS NULL OR s.retention <= interval '0';
		SELECT g.segment, g.opened_at INTO newest, newest_opened
		FROM mq._stream_segment g WHERE g.stream_id = s.stream_id
		ORDER BY g.segment DESC LIMIT 1;
		CONTINUE WHEN newest IS NULL;
		BEGIN
			EXECUTE format('LOCK TABLE mq.%I IN ACCESS SHARE MODE NOWAIT',
						   's_' || s.stream_id || '_' || newest);
			EXECUTE format('SELECT EXISTS (SELECT 1 FROM mq.%I)', 's_' || s.stream_id || '_' || newest)
				INTO has_rows;
			IF has_rows THEN
				due := LEAST(due, newest_opened + s.retention / 8);
			END IF;
		EXCEPTION
			WHEN lock_not_available THEN
				RETURN horizon;
			WHEN OTHERS THEN
				NULL;
		END;
		/* the oldest segment goes once its successor is older than retention */
		SELECT n.opened_at + s.retention INTO t
		FROM mq._stream_segment n
		WHERE n.stream_id = s.stream_id
		ORDER BY n.segment OFFSET 1 LIMIT 1;
		due := LEAST(due, t);
		IF due <= horizon THEN
			RETURN due;
		END IF;
	END LOOP;
	RETURN due;
END;
$$;

/*
 * The databases with mq and their workers (worker_slot.c); mq.workers
 * names the databases.  Open to every role, as pg_stat_activity shows the
 * workers to any role (a function in a view runs with the reader's
 * privileges).
 */
CREATE OR REPLACE FUNCTION mq.worker_status(
	OUT pid int,
	OUT dboid oid,
	OUT state text,
	OUT last_work text,
	OUT last_work_at timestamptz,
	OUT next_wake timestamptz,
	OUT waiting_since timestamptz)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'mq_workers' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.worker_status()
	IS 'The databases with mq and their workers, by database oid (mq.workers names the databases).';

CREATE OR REPLACE VIEW mq.workers AS
	SELECT w.pid, d.datname AS database, w.state, w.last_work, w.last_work_at,
		w.next_wake, w.waiting_since
	FROM mq.worker_status() w
		LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) w.dboid;
COMMENT ON VIEW mq.workers
	IS 'Each database with mq: its worker (pid) if it has one, its state (working, sleeping, starting, waiting for a worker, idle), what was done last and when, and when it next needs its worker unless a commit wants it first.';
GRANT SELECT ON mq.workers TO PUBLIC;

REVOKE EXECUTE ON FUNCTION mq._sweep(text), mq._maintain(), mq.maintain(),
	mq._maintain_warning(int, text, text, text), mq._next_due(timestamptz)
	FROM PUBLIC;
