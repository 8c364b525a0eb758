/*
 * metrics.sql: monitoring -- counts and ages of queues (mq.metrics, in SQL)
 * and the Prometheus text exposition format.  The bodies are management
 * functions' (see queue.sql), closed to PUBLIC.
 */

CREATE OR REPLACE FUNCTION mq._metrics(queue text) RETURNS mq.queue_metrics
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	qid int := mq._queue_id(queue);
	gc int;
	m mq.queue_metrics;
BEGIN
	PERFORM mq._check_privilege('queue', queue, 'any');
	m.queue_name := queue;
	m.scrape_time := clock_timestamp();
	SELECT s.dead_lettered, s.expired, s.dropped
		INTO m.dead_lettered, m.expired, m.dropped
		FROM mq._queue_stats s WHERE s.queue_id = qid;
	SELECT l.held_back, l.group_held_back INTO m.rate_limited_reads, m.group_rate_limited
		FROM mq._limit_stats(qid) l;
	/* an unlogged queue has no content on a standby: its counts are unknown */
	IF pg_is_in_recovery() AND (SELECT q.unlogged FROM mq._queue q WHERE q.queue_id = qid) THEN
		RETURN m;
	END IF;
	/* groups: messages without a key count as one group */
	EXECUTE format($q$
		SELECT count(*),
			   count(*) FILTER (WHERE vt <= $1),
			   count(*) FILTER (WHERE vt > $1 AND read_ct > 0),
			   count(*) FILTER (WHERE vt > $1 AND read_ct = 0),
			   $1 - min(enqueued_at),
			   $1 - max(enqueued_at),
			   count(DISTINCT group_key) FILTER (WHERE vt <= $1) +
			   (count(*) FILTER (WHERE vt <= $1 AND group_key IS NULL) > 0)::int
		FROM mq.%I$q$, 'q_' || qid)
		INTO m.queue_length, m.visible, m.in_flight, m.delayed,
			 m.oldest_msg_age, m.newest_msg_age, m.groups_visible
		USING m.scrape_time;
	SELECT q.group_concurrency INTO gc FROM mq._queue q WHERE q.queue_id = qid;
	IF gc IS NOT NULL THEN
		EXECUTE format($q$
			SELECT count(*) FROM (SELECT 1 FROM mq.%I
				WHERE group_key IS NOT NULL AND vt > $1 AND read_ct > 0
				GROUP BY group_key HAVING count(*) >= $2) g$q$, 'q_' || qid)
			INTO m.groups_at_limit
			USING m.scrape_time, gc;
	ELSE
		m.groups_at_limit := 0;
	END IF;
	EXECUTE format('SELECT count(*) FROM mq.%I', 'a_' || qid)
		INTO m.archive_length;
	RETURN m;
END;
$$;

/* bodies call bodies: a management function called from one would see mq's owner */
/*
 * Every queue the caller may see.  A queue dropped by a transaction that
 * commits while this one runs (its table's lock held until then) is left
 * out: it is gone once _metrics() may look at it.
 */
CREATE OR REPLACE FUNCTION mq._metrics_all() RETURNS SETOF mq.queue_metrics
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	name text;
	m mq.queue_metrics;
BEGIN
	FOR name IN SELECT q.queue_name FROM mq._queue q ORDER BY q.queue_name LOOP
		BEGIN
			CONTINUE WHEN NOT mq._has_privilege('queue', name, 'any');
			m := mq._metrics(name);
		EXCEPTION WHEN undefined_object OR undefined_table THEN
			CONTINUE;
		END;
		RETURN NEXT m;
	END LOOP;
END;
$$;

/* The Prometheus text exposition format, of queues and streams. */
CREATE OR REPLACE FUNCTION mq._metrics_prometheus() RETURNS text
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	section text;
	out text := '';
	m record;
	metric record;
BEGIN
	FOR metric IN SELECT * FROM (VALUES
		(1, 'mq_queue_length', 'gauge', 'Messages in the queue (visible, leased or delayed).'),
		(2, 'mq_queue_visible', 'gauge', 'Messages a read would get now.'),
		(3, 'mq_queue_in_flight', 'gauge', 'Messages received and now leased.'),
		(4, 'mq_queue_delayed', 'gauge', 'Messages not yet visible, never received.'),
		(5, 'mq_queue_oldest_message_age_seconds', 'gauge', 'Age of the oldest message.'),
		(6, 'mq_queue_archive_length', 'gauge', 'Messages in the archive.'),
		(7, 'mq_queue_dead_lettered_total', 'counter', 'Messages dead-lettered for max_receives.'),
		(8, 'mq_queue_expired_total', 'counter', 'Messages dead-lettered for message_ttl.'),
		(9, 'mq_queue_dropped_total', 'counter', 'Messages dropped by overflow drop_head.'),
		(10, 'mq_queue_groups_visible', 'gauge', 'Groups (group_key) with visible messages.'),
		(11, 'mq_queue_groups_at_limit', 'gauge', 'Groups with group_concurrency messages leased.'),
		(12, 'mq_queue_rate_limited_reads_total', 'counter', 'Reads the rate_limit held back (since the server started).'),
		(13, 'mq_queue_group_rate_limited_total', 'counter', 'Groups a group_rate_limit held back in reads (since the server started).')
	) AS v(ord, name, type, help) ORDER BY ord
	LOOP
		out := out || format(E'# HELP %s %s\n# TYPE %s %s\n', metric.name, metric.help,
							 metric.name, metric.type);
		FOR m IN SELECT * FROM mq._metrics_all() LOOP
			out := out || format(E'%s{queue="%s"} %s\n', metric.name, m.queue_name,
				coalesce(CASE metric.ord
					WHEN 1 THEN m.queue_length::text
					WHEN 2 THEN m.visible::text
					WHEN 3 THEN m.in_flight::text
					WHEN 4 THEN m.delayed::text
					WHEN 5 THEN coalesce(extract(epoch FROM m.oldest_msg_age), 0)::text
					WHEN 6 THEN m.archive_length::text
					WHEN 7 THEN m.dead_lettered::text
					WHEN 8 THEN m.expired::text
					WHEN 9 THEN m.dropped::text
					WHEN 10 THEN m.groups_visible::text
					WHEN 11 THEN m.groups_at_limit::text
					WHEN 12 THEN m.rate_limited_reads::text
					WHEN 13 THEN m.group_rate_limited::text END, 'NaN'));
		END LOOP;
	END LOOP;
	/* streams the caller holds a privilege on: ends, and each group's lag */
	section := '';
	FOR m IN SELECT s.stream_name, p.partition, mq.stream_end(s.stream_name, p.partition) AS end_position
			 FROM mq._stream s, generate_series(0, s.partitions - 1) AS p(partition)
			 WHERE mq._has_privilege('stream', s.stream_name, 'any')
			 ORDER BY 1, 2 LOOP
		section := section || format(E'mq_stream_end_position{stream="%s",partition="%s"} %s\n',
									 m.stream_name, m.partition, m.end_position);
	END LOOP;
	IF section <> '' THEN
		out := out || E'# HELP mq_stream_end_position The position the next record of a partition will have.\n'
				   || E'# TYPE mq_stream_end_position gauge\n' || section;
	END IF;
	FOR metric IN SELECT * FROM (VALUES
		(1, 'mq_stream_group_committed_position', 'The committed position of a consumer group''s partition.'),
		(2, 'mq_stream_group_lag', 'Records of a partition after a consumer group''s committed position.')
	) AS v(ord, name, help) ORDER BY ord
	LOOP
		section := '';
		FOR m IN SELECT c.* FROM mq.consumer_groups c
				 WHERE mq._has_privilege('stream', c.stream, 'any')
				 ORDER BY c.stream, c.consumer_group, c.partition LOOP
			section := section || format(E'%s{stream="%s",group="%s",partition="%s"} %s\n', metric.name,
										 m.stream, m.consumer_group, m.partition,
										 CASE metric.ord WHEN 1 THEN m.committed_position ELSE m.lag END);
		END LOOP;
		IF section <> '' THEN
			out := out || format(E'# HELP %s %s\n# TYPE %s gauge\n', metric.name, metric.help,
								 metric.name) || section;
		END IF;
	END LOOP;
	RETURN out;
END;
$$;

/* The entry points (mq_manage() calls the body of the same name). */
CREATE OR REPLACE FUNCTION mq.metrics(queue text)
RETURNS mq.queue_metrics AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.metrics(text) IS 'Counts and ages of one queue.';

CREATE OR REPLACE FUNCTION mq.metrics_all()
RETURNS SETOF mq.queue_metrics AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.metrics_all() IS 'mq.metrics() of every queue the caller has a privilege on.';

CREATE OR REPLACE FUNCTION mq.metrics_prometheus()
RETURNS text AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C STABLE;
COMMENT ON FUNCTION mq.metrics_prometheus() IS 'mq.metrics_all() in the Prometheus text format.';

/* C (manage.c): counts per role of the tables in shared memory */
CREATE OR REPLACE FUNCTION mq.shared_memory_usage(OUT pool text, OUT role regrole,
									   OUT entries int, OUT role_limit int,
									   OUT capacity int)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'mq_shared_memory_usage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.shared_memory_usage()
	IS 'What each role holds of mq''s bounded tables in shared memory, its limit there and the table''s size.';

COMMENT ON TYPE mq.queue_metrics IS 'What mq.metrics() returns.';

REVOKE EXECUTE ON FUNCTION mq._metrics(text), mq._metrics_all(), mq._metrics_prometheus()
	FROM PUBLIC;
