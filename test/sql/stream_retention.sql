-- Streams: segments and retention (README, "Retention").  The worker runs
-- mq._maintain_streams(); here it is called directly, and the age of
-- segments is set by hand instead of waited for.
\set SHOW_CONTEXT never

SELECT mq.create_stream('r_log', partitions => 2, retention => '1 hour');
SELECT mq.create_consumer_group('r_log', 'slow', 'earliest');
SELECT count(*) FROM mq.append_batch('r_log',
	(SELECT array_agg(jsonb_build_object('n', i) ORDER BY i) FROM generate_series(1, 10) i),
	keys => (SELECT array_agg('k' || (i % 4) ORDER BY i) FROM generate_series(1, 10) i));
CREATE FUNCTION r_segments() RETURNS TABLE (segment int, records bigint)
LANGUAGE plpgsql AS $$
DECLARE
	seg int;
BEGIN
	FOR seg IN SELECT g.segment FROM mq._stream_segment g JOIN mq._stream s USING (stream_id)
			   WHERE s.stream_name = 'r_log' ORDER BY 1 LOOP
		segment := seg;
		EXECUTE format('SELECT count(*) FROM mq.%I', 's_' || (SELECT stream_id FROM mq._stream
			WHERE stream_name = 'r_log') || '_' || seg) INTO records;
		RETURN NEXT;
	END LOOP;
END $$;
CREATE FUNCTION r_age(seg int, age interval) RETURNS void LANGUAGE sql AS $$
	UPDATE mq._stream_segment g SET opened_at = now() - age
	FROM mq._stream s WHERE s.stream_id = g.stream_id AND s.stream_name = 'r_log' AND g.segment = seg
$$;

-- a young segment stays the newest
SELECT mq._maintain_streams();
SELECT * FROM r_segments();
-- older than retention / 8, with records: a new segment opens
SELECT r_age(1, '10 minutes');
SELECT mq._maintain_streams();
SELECT * FROM r_segments();
-- appends go to the new one; positions go on; reads and polls span both
SELECT count(*) FROM mq.append_batch('r_log',
	(SELECT array_agg(jsonb_build_object('n', i) ORDER BY i) FROM generate_series(11, 16) i),
	keys => (SELECT array_agg('k' || (i % 4) ORDER BY i) FROM generate_series(11, 16) i));
SELECT * FROM r_segments();
SELECT partition, string_agg(position::text, ',' ORDER BY position) AS positions,
	   string_agg(body->>'n', ',' ORDER BY position) AS records
FROM (SELECT * FROM mq.read_stream('r_log', 0, 0) UNION ALL SELECT * FROM mq.read_stream('r_log', 1, 0)) r
GROUP BY partition ORDER BY partition;
SELECT partition, position, body->>'n' AS n FROM mq.read_stream('r_log', 0, 3, 3);
-- an empty newest segment does not rotate, however old
SELECT mq.create_stream('r_idle', retention => '1 hour');
UPDATE mq._stream_segment g SET opened_at = now() - interval '1 day'
FROM mq._stream s WHERE s.stream_id = g.stream_id AND s.stream_name = 'r_idle';
SELECT mq._maintain_streams();
SELECT count(*) FROM mq._stream_segment g JOIN mq._stream s USING (stream_id) WHERE s.stream_name = 'r_idle';
-- segment 1's successor opened more than retention ago: segment 1 goes,
-- by DROP, and with it the records it held
SELECT r_age(2, '2 hours');
SELECT mq._maintain_streams();
SELECT * FROM r_segments();
SELECT partition, string_agg(body->>'n', ',' ORDER BY position) AS records
FROM (SELECT * FROM mq.read_stream('r_log', 0, 0) UNION ALL SELECT * FROM mq.read_stream('r_log', 1, 0)) r
GROUP BY partition ORDER BY partition;
-- the group that had read nothing skips to the first record kept, and the
-- view says how many it skipped
SELECT partition, committed_position, start_position, end_position, lag, skipped
FROM mq.consumer_groups WHERE stream = 'r_log' ORDER BY partition;
SELECT partition, position, body->>'n' AS n FROM mq.poll('r_log', 'slow', 'c1') ORDER BY 1, 2;
SELECT mq.commit('r_log', 'slow', 'c1', 0, 6), mq.commit('r_log', 'slow', 'c1', 0, 8),
	   mq.commit('r_log', 'slow', 'c1', 1, 7);
-- superseded commits go: the worker folds the commit table not in turn
-- into the other by TRUNCATE (here both, one after the other); one row per
-- (group, partition) is left, and the positions stay
SELECT count(*) AS commit_rows FROM mq._stream_commit c JOIN mq._stream_group g USING (group_id)
WHERE g.group_name = 'slow';
SELECT mq._compact_commits();
SELECT (SELECT count(*) FROM mq._stream_commit_0) > 0 AS in_0, (SELECT count(*) FROM mq._stream_commit_1) AS in_1;
SELECT c.partition, count(*), max(c.position) FROM mq._stream_commit c
JOIN mq._stream_group g USING (group_id) WHERE g.group_name = 'slow' GROUP BY 1 ORDER BY 1;
SELECT mq.stream_start('r_log', 0), mq.stream_end('r_log', 0);
-- a new group from 'earliest' starts at position 0, which is gone: it reads
-- from the first kept
SELECT mq.create_consumer_group('r_log', 'late', 'earliest');
SELECT count(*) FROM mq.poll('r_log', 'late', 'c1');
-- after a restart of positions' memory the next position comes from all
-- segments (here: the newest has them)
SELECT position > 0 AS goes_on FROM mq.append('r_log', '{"n": 17}', key => 'k1');

-- retention_bytes: the oldest segments go while the stream is over
-- retention_bytes times its partitions (the newest never goes)
SELECT mq.create_stream('r_big', retention => '0', retention_bytes => 262144);
DO $$
BEGIN
	FOR i IN 1 .. 20 LOOP
		PERFORM count(*) FROM mq.append_batch('r_big',
			ARRAY(SELECT jsonb_build_object('i', i, 'pad', repeat('x', 200)) FROM generate_series(1, 100)));
		COMMIT;
		PERFORM mq._maintain_streams();
		COMMIT;
	END LOOP;
END $$;
SELECT sum(mq._segment_size(g.stream_id, g.segment)) FILTER (WHERE g.segment < (SELECT max(segment)
		FROM mq._stream_segment WHERE stream_id = g.stream_id)) <= 262144 AS within_limit,
	   count(*) > 1 AS several_segments
FROM mq._stream_segment g JOIN mq._stream s USING (stream_id) WHERE s.stream_name = 'r_big';
SELECT count(*) BETWEEN 100 AND 1000 AS some_kept, min(position) > 0 AS oldest_gone,
	   max(position) = 1999 AS newest_kept
FROM mq.read_stream('r_big', 0, 0, 2000);
-- retention 0 and no retention_bytes: kept for ever, in one segment
SELECT mq.create_stream('r_forever', retention => '0');
SELECT count(*) FROM mq.append('r_forever', '{}');
UPDATE mq._stream_segment g SET opened_at = now() - interval '10 years'
FROM mq._stream s WHERE s.stream_id = g.stream_id AND s.stream_name = 'r_forever';
SELECT mq._maintain_streams();
SELECT count(*) FROM mq.read_stream('r_forever', 0, 0);
SELECT mq.drop_stream('r_forever');

-- drop_stream drops every segment
SELECT mq.drop_stream('r_log');
SELECT mq.drop_stream('r_big');
SELECT mq.drop_stream('r_idle');
SELECT count(*) FROM pg_class WHERE relnamespace = 'mq'::regnamespace AND relname ~ '^s_[0-9]+_[0-9]+$';
SELECT count(*) FROM mq._stream_segment;
DROP FUNCTION r_segments(), r_age(int, interval);
