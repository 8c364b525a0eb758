-- Sending, leasing, acking: the SQS-style delivery cycle.
\set SHOW_CONTEXT never
SELECT mq.create_queue('jobs', visibility_timeout => '1 hour');

-- send returns increasing ids; headers, keys and priority are kept
SELECT mq.send('jobs', '{"task": "a"}') AS a \gset
SELECT mq.send('jobs', '{"task": "b"}', headers => '{"trace": "t1"}',
			   group_key => 'g1', dedup_key => 'k1') AS b \gset
SELECT :b > :a AS increasing;

-- read leases: read_ct goes up, vt moves to the lease end, oldest first
SELECT msg_id = :a AS is_a, read_ct, priority, group_key, dedup_key, headers, body,
	   vt > clock_timestamp() + interval '59 minutes' AS leased_for_an_hour,
	   enqueued_at <= clock_timestamp() AS enqueued_in_past
FROM mq.read('jobs');
-- a leased message is invisible to other reads
SELECT msg_id = :b AS is_b, read_ct, headers, body FROM mq.read('jobs', 10);
SELECT count(*) AS none_visible FROM mq.read('jobs', 10);

-- ack deletes; a second ack of the same id says false
SELECT mq.ack('jobs', :a) AS acked, mq.ack('jobs', :a) AS again;
SELECT queue_length, visible, in_flight, delayed, archive_length FROM mq.metrics('jobs');

-- nack gives a message back at once, with its receive count kept
SELECT mq.nack('jobs', :b);
SELECT read_ct, body FROM mq.read('jobs');
-- nack with a delay keeps it away until the delay is over
SELECT mq.nack('jobs', :b, '1 hour');
SELECT count(*) FROM mq.read('jobs');
SELECT queue_length, visible, in_flight, delayed FROM mq.metrics('jobs');
-- set_vt changes the lease end: 0 makes the message visible now
SELECT mq.set_vt('jobs', :b, '0') <= clock_timestamp() AS visible_now;
SELECT read_ct FROM mq.read('jobs', 1, '2 hours');
SELECT mq.set_vt('jobs', :b, '3 hours') > clock_timestamp() + interval '2 hours 59 minutes' AS extended;
SELECT mq.ack('jobs', :b);

-- a lease that runs out makes the message visible again (redelivery)
SELECT mq.send('jobs', '{"task": "c"}') AS c \gset
SELECT msg_id = :c AS is_c, read_ct FROM mq.read('jobs', 1, '100 milliseconds');
SELECT count(*) FROM mq.read('jobs');
SELECT pg_sleep(0.5);
SELECT msg_id = :c AS is_c, read_ct FROM mq.read('jobs', 1, '100 milliseconds');
SELECT pg_sleep(0.5);
SELECT msg_id = :c AS is_c, read_ct FROM mq.read('jobs');
SELECT mq.ack('jobs', :c);

-- delayed messages are invisible until their delay is over
SELECT mq.send('jobs', '{"task": "later"}', delay => '200 milliseconds') AS d \gset
SELECT count(*) FROM mq.read('jobs');
SELECT queue_length, visible, in_flight, delayed FROM mq.metrics('jobs');
SELECT pg_sleep(0.5);
SELECT msg_id = :d AS is_d, read_ct, body FROM mq.read('jobs');
SELECT mq.ack('jobs', :d);

-- order: higher priority first, then oldest first
SELECT count(*) FROM (
	SELECT mq.send('jobs', jsonb_build_object('n', n), priority => p)
	FROM (VALUES (1, 0), (2, 5), (3, 0), (4, 10), (5, 5), (6, -1)) AS v(n, p)
) s;
SELECT priority, body FROM mq.read('jobs', 2);
SELECT priority, body FROM mq.read('jobs', 10);
SELECT count(*) FROM mq.read('jobs', 10);

-- ack of many returns the ids it acked; unknown ids are left out
SELECT mq.purge_queue('jobs');
SELECT array_agg(id ORDER BY id) AS ids FROM mq.send_batch('jobs',
	ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]) AS id \gset
SELECT count(*) FROM mq.ack_batch('jobs', (:'ids'::bigint[])[1:2] || ARRAY[-1]::bigint[]);
SELECT count(*) FROM mq.ack_batch('jobs', ARRAY[]::bigint[]);
SELECT body FROM mq.read('jobs', 10);

-- send_batch: ids come back in the order of the bodies; per-message headers and keys
SELECT mq.purge_queue('jobs');
SELECT count(*), bool_and(id > 0) FROM mq.send_batch('jobs',
	ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[],
	headers => ARRAY['{"h": 1}', NULL, '{"h": 3}']::jsonb[],
	group_keys => ARRAY['g1', 'g2', NULL],
	priority => 2) AS id;
SELECT priority, group_key, headers, body FROM mq.read('jobs', 10);
SELECT mq.purge_queue('jobs');
WITH ids AS (
	SELECT id, row_number() OVER () AS ord
	FROM mq.send_batch('jobs', ARRAY(SELECT jsonb_build_object('n', n)
									   FROM generate_series(1, 1000) n)) AS id
)
SELECT count(*), bool_and(id > prev) AS in_order
FROM (SELECT id, lag(id, 1, 0::bigint) OVER (ORDER BY ord) AS prev FROM ids) s;
SELECT queue_length FROM mq.metrics('jobs');
-- a batch goes in with a multi-insert, unless someone put a trigger on the
-- queue's table: then the SQL path runs, and so does the trigger
CREATE TABLE batch_audit (n int);
CREATE FUNCTION batch_audit() RETURNS trigger LANGUAGE plpgsql AS
	$$ BEGIN INSERT INTO public.batch_audit VALUES (1); RETURN NULL; END $$;
DO $$ BEGIN EXECUTE format('CREATE TRIGGER audit AFTER INSERT ON mq.q_%s FOR EACH ROW EXECUTE FUNCTION batch_audit()', mq._queue_id('jobs')); END $$;
SELECT mq.purge_queue('jobs');
SELECT count(*), count(DISTINCT id) FROM mq.send_batch('jobs', ARRAY['{"t": 1}', '{"t": 2}', '{"t": 3}']::jsonb[]) id;
SELECT count(*) AS trigger_fired FROM batch_audit;
DO $$ BEGIN EXECUTE format('DROP TRIGGER audit ON mq.q_%s', mq._queue_id('jobs')); END $$;
DROP TABLE batch_audit;
DROP FUNCTION batch_audit();
SELECT body FROM mq.read('jobs', 10);
-- a table whose layout a superuser changed takes the SQL path too, which
-- names its columns: here the added column gets its default
SELECT mq.create_queue('altered');
SELECT 'mq.q_' || mq._queue_id('altered') AS altered_table \gset
ALTER TABLE :altered_table ADD COLUMN note text DEFAULT 'by hand';
SELECT count(*) FROM mq.send_batch('altered', ARRAY['{"t": 4}', '{"t": 5}']::jsonb[]);
SELECT mq.send('altered', '{"t": 6}') > 0 AS sent;
SELECT count(*) AS with_default FROM :altered_table WHERE note = 'by hand';
SELECT body FROM mq.read('altered', 10) ORDER BY msg_id;
SELECT count(*) FROM mq.ack_batch('altered', ARRAY(SELECT msg_id FROM :altered_table));
SELECT mq.drop_queue('altered');
-- a delayed batch
SELECT mq.purge_queue('jobs');
SELECT count(*) FROM mq.send_batch('jobs', ARRAY['{}', '{}']::jsonb[], delay => '1 hour');
SELECT queue_length, visible, delayed FROM mq.metrics('jobs');
SELECT count(*) FROM mq.read('jobs', 10);

-- pop reads and deletes in one step
SELECT mq.purge_queue('jobs');
SELECT mq.send('jobs', '{"p": 1}', priority => 1) IS NOT NULL AS sent;
SELECT mq.send('jobs', '{"p": 2}') IS NOT NULL AS sent;
SELECT read_ct, body FROM mq.pop('jobs');
SELECT read_ct, body FROM mq.pop('jobs', 5);
SELECT count(*) FROM mq.pop('jobs');
SELECT queue_length FROM mq.metrics('jobs');

-- archive moves messages to the archive table explicitly
SELECT mq.send('jobs', '{"keep": 1}') AS k \gset
SELECT array_agg(x) = ARRAY[:k]::bigint[] AS archived FROM mq.archive_batch('jobs', ARRAY[:k, -7]::bigint[]) AS x;
SELECT queue_length, archive_length FROM mq.metrics('jobs');
-- on an archive queue, ack archives instead of deleting
SELECT mq.create_queue('kept', archive => true);
SELECT mq.send('kept', '{"x": 1}') AS x \gset
SELECT mq.send('kept', '{"x": 2}') AS y \gset
SELECT count(*) FROM mq.read('kept', 2);
SELECT mq.ack('kept', :x), mq.ack('kept', :x);
SELECT count(*) FROM mq.ack_batch('kept', ARRAY[:y]::bigint[]);
SELECT queue_length, archive_length FROM mq.metrics('kept');

-- transactions: a rolled-back send leaves nothing; a rolled-back read or ack
-- leaves the message as it was
SELECT mq.purge_queue('jobs');
BEGIN;
SELECT mq.send('jobs', '{"t": "rolled back"}') > 0 AS sent;
ROLLBACK;
SELECT queue_length FROM mq.metrics('jobs');
SELECT mq.send('jobs', '{"t": "kept"}') AS t \gset
BEGIN;
SELECT read_ct FROM mq.read('jobs');
ROLLBACK;
BEGIN;
SELECT read_ct FROM mq.read('jobs');
SELECT mq.ack('jobs', :t);
ROLLBACK;
SELECT read_ct, body FROM mq.read('jobs');
-- a send is visible to others only after commit, and then at once
BEGIN;
SELECT mq.send('jobs', '{"t": "in tx"}') > 0 AS sent;
SELECT count(*) FROM mq.read('jobs');   -- own uncommitted send is readable
COMMIT;

-- a blocking read returns at once when a message is there
SELECT mq.send('jobs', '{"t": "waiting"}') IS NOT NULL AS sent;
SELECT body FROM mq.read('jobs', 1, '1 minute', wait => '10 seconds');
-- and returns nothing when the wait ends without a message
SELECT count(*) FROM mq.read('jobs', 1, '1 minute', wait => '300 milliseconds');
-- a wait of NULL or 0 does not wait
SELECT count(*) FROM mq.read('jobs', 1, NULL, NULL);

-- mq.ack has one signature: untyped parameters (as drivers send them) resolve
SELECT mq.send('jobs', '{"t": "untyped"}') AS u \gset
PREPARE ack_untyped(unknown, unknown) AS SELECT mq.ack($1, $2);
EXECUTE ack_untyped('jobs', :u);
EXECUTE ack_untyped('jobs', :u);
DEALLOCATE ack_untyped;
-- mq.archive of one message, and archive_batch
SELECT mq.send('kept', '{"x": 3}') AS z \gset
SELECT mq.archive('kept', :z), mq.archive('kept', :z);
SELECT count(*) FROM mq.archive_batch('kept', ARRAY[:z, -1]::bigint[]);
SELECT archive_length FROM mq.metrics('kept');
-- metrics_all: one row per queue
SELECT queue_name, queue_length FROM mq.metrics_all();
SELECT mq.drop_queue('jobs'), mq.drop_queue('kept');
SELECT count(*) FROM mq.metrics_all();
