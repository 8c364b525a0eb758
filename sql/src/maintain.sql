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

REVOKE EXECUTE ON FUNCTION mq._sweep(text), mq._maintain(), mq.maintain(),
	mq._maintain_warning(int, text, text, text) FROM PUBLIC;
