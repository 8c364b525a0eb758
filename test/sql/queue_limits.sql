-- Fair queues, group_concurrency and rate limits (README, "Fairness and limits").
\set SHOW_CONTEXT never

-- the options and their errors: 22023 with a hint, NULL where NULL cannot be
SELECT mq.create_queue('l_bad', group_concurrency => -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue('l_bad', fifo => true, group_concurrency => 2);
SELECT mq.create_queue('l_bad', rate_limit => -5);
SELECT mq.create_queue('l_bad', group_rate_limit => -5);
SELECT mq.create_queue('l_bad', rate_limit => 5, rate_interval => '-1 second');
SELECT mq.create_queue('l_bad', rate_limit => 5, rate_interval => '101 years');
SELECT mq.create_queue('l_bad', rate_interval => NULL);
SELECT mq.create_queue('l_bad', fair => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.queues WHERE queue_name = 'l_bad';

-- a FIFO queue may say group_concurrency 1 (what it does anyway)
SELECT mq.create_queue('l_fifo1', fifo => true, group_concurrency => 1);

-- redeclaring: the same options are a no-op, others are named
SELECT mq.create_queue('l_opts', fair => true, group_concurrency => 2,
					   rate_limit => 100, rate_interval => '1 minute',
					   group_rate_limit => 10);
SELECT mq.create_queue('l_opts', fair => true, group_concurrency => 2,
					   rate_limit => 100, rate_interval => '1 minute',
					   group_rate_limit => 10);
SELECT mq.create_queue('l_opts', group_concurrency => 3, rate_limit => 100);
SELECT fair, group_concurrency, rate_limit, rate_interval, group_rate_limit
FROM mq.queues WHERE queue_name = 'l_opts';

-- the indexes follow the options: fair and group_concurrency need one each
CREATE FUNCTION l_indexes(queue text) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(indexname, '^q_[0-9]+_', 'q_N_')
	FROM pg_indexes
	WHERE schemaname = 'mq' AND tablename = (SELECT 'q_' || queue_id FROM mq._queue WHERE queue_name = queue)
	ORDER BY 1;
$$;
SELECT l_indexes('l_opts');
-- NULL keeps, 0 clears (rate_interval 0 is 1 second again)
SELECT mq.alter_queue('l_opts', fair => false, group_concurrency => 0, rate_limit => 0,
					  rate_interval => '0', group_rate_limit => NULL);
SELECT fair, group_concurrency, rate_limit, rate_interval, group_rate_limit
FROM mq.queues WHERE queue_name = 'l_opts';
SELECT l_indexes('l_opts');
-- the FIFO group index is there only while the queue is FIFO
SELECT mq.alter_queue('l_opts', fifo => true);
SELECT l_indexes('l_opts');
SELECT mq.alter_queue('l_opts', fifo => false);
SELECT l_indexes('l_opts');
SELECT mq.alter_queue('l_opts', group_concurrency => -2);
SELECT mq.alter_queue('l_opts', fifo => true, group_concurrency => 4);

-- fair: groups in turn (here A has 20 messages, B 3, C 2, one has no key),
-- not by age; the turn goes on from read to read
SELECT mq.create_queue('l_fair', fair => true, visibility_timeout => '1 hour');
SELECT count(*) FROM mq.send_batch('l_fair', array_fill('{}'::jsonb, ARRAY[20]),
								   group_keys => array_fill('A'::text, ARRAY[20]));
SELECT count(*) FROM mq.send_batch('l_fair', array_fill('{}'::jsonb, ARRAY[3]),
								   group_keys => array_fill('B'::text, ARRAY[3]));
SELECT mq.send('l_fair', '{}');
SELECT count(*) FROM mq.send_batch('l_fair', array_fill('{}'::jsonb, ARRAY[2]),
								   group_keys => array_fill('C'::text, ARRAY[2]));
SELECT msg_id, group_key FROM mq.read('l_fair', 6);
SELECT msg_id, group_key FROM mq.read('l_fair', 1);
SELECT msg_id, group_key FROM mq.read('l_fair', 1);
SELECT msg_id, group_key FROM mq.read('l_fair', 4);
-- only A is left: a read takes A's next ones, the turn coming back to it
SELECT msg_id, group_key FROM mq.read('l_fair', 3);
-- a nack makes a message the first of its group again
SELECT mq.nack('l_fair', 2);
SELECT mq.send('l_fair', '{}', group_key => 'B');
SELECT msg_id, group_key FROM mq.read('l_fair', 3);
-- priorities come first: every group's priority-5 messages, in turn
SELECT mq.send('l_fair', '{"p": 5}', group_key => 'C', priority => 5);
SELECT mq.send('l_fair', '{"p": 5}', group_key => 'A', priority => 5);
SELECT msg_id, group_key, priority FROM mq.read('l_fair', 3);
-- a rolled-back read leaves the messages as they were
BEGIN;
SELECT count(*) FROM mq.read('l_fair', 100);
ROLLBACK;
SELECT count(*) FROM mq.read('l_fair', 100);
-- pop, and REPEATABLE READ and mq.direct_access = off, take turns too
SELECT mq.purge_queue('l_fair');
SELECT count(*) FROM mq.send_batch('l_fair', array_fill('{}'::jsonb, ARRAY[4]),
								   group_keys => ARRAY['x', 'x', 'y', 'y']);
SELECT msg_id, group_key FROM mq.pop('l_fair', 2);
SELECT count(*) FROM mq.send_batch('l_fair', array_fill('{}'::jsonb, ARRAY[4]),
								   group_keys => ARRAY['x', 'x', 'y', 'y']);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT msg_id, group_key FROM mq.read('l_fair', 2);
COMMIT;
SET mq.direct_access = off;
SELECT msg_id, group_key FROM mq.read('l_fair', 2);
RESET mq.direct_access;

-- fair and FIFO: each group's head, in turn
SELECT mq.create_queue('l_fairfifo', fair => true, fifo => true, visibility_timeout => '1 hour');
SELECT count(*) FROM mq.send_batch('l_fairfifo', array_fill('{}'::jsonb, ARRAY[6]),
								   group_keys => ARRAY['a', 'a', 'a', 'b', 'b', 'c']);
SELECT msg_id, group_key FROM mq.read('l_fairfifo', 10);
SELECT mq.ack('l_fairfifo', 1);
SELECT msg_id, group_key FROM mq.read('l_fairfifo', 10);

-- group_concurrency: at most 2 of a group leased; ack, nack and rollback
-- give slots back; messages without a key are not limited
SELECT mq.create_queue('l_gc', group_concurrency => 2, visibility_timeout => '1 hour');
SELECT count(*) FROM mq.send_batch('l_gc', array_fill('{}'::jsonb, ARRAY[5]),
								   group_keys => array_fill('A'::text, ARRAY[5]));
SELECT count(*) FROM mq.send_batch('l_gc', array_fill('{}'::jsonb, ARRAY[5]),
								   group_keys => array_fill('B'::text, ARRAY[5]));
SELECT count(*) FROM mq.send_batch('l_gc', array_fill('{}'::jsonb, ARRAY[3]));
SELECT msg_id, group_key FROM mq.read('l_gc', 20);
SELECT msg_id, group_key FROM mq.read('l_gc', 20);
SELECT mq.ack('l_gc', 1);
SELECT mq.nack('l_gc', 6);
SELECT msg_id, group_key FROM mq.read('l_gc', 20);
BEGIN;
SELECT mq.ack('l_gc', 2);
SELECT msg_id, group_key FROM mq.read('l_gc', 20);
ROLLBACK;
SELECT msg_id, group_key FROM mq.read('l_gc', 20);
SELECT groups_visible, groups_at_limit FROM mq.metrics('l_gc');
-- one read meeting many groups (40, two messages each): one of each
SELECT mq.create_queue('l_gc40', group_concurrency => 1, visibility_timeout => '1 hour');
SELECT count(*) FROM mq.send_batch('l_gc40', array_fill('{}'::jsonb, ARRAY[80]),
								   group_keys => ARRAY(SELECT 'g' || (n % 40) FROM generate_series(1, 80) n));
SELECT count(*), count(DISTINCT group_key) FROM mq.read('l_gc40', 100);
SELECT count(*) FROM mq.read('l_gc40', 100);
-- the same in REPEATABLE READ and on the SQL path: the limit holds
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT mq.ack('l_gc', 2);
SELECT msg_id, group_key FROM mq.read('l_gc', 20);
COMMIT;
SET mq.direct_access = off;
SELECT mq.ack('l_gc', 3);
SELECT msg_id, group_key FROM mq.read('l_gc', 20);
RESET mq.direct_access;
-- pop does not lease: it skips no group
SELECT msg_id, group_key FROM mq.pop('l_gc', 2);
-- with max_receives, a message past it is dead-lettered on the way
SELECT mq.create_queue('l_gcdead', group_concurrency => 1, max_receives => 1,
					   visibility_timeout => '1 hour');
SELECT mq.send('l_gcdead', '{}', group_key => 'A');
SELECT mq.send('l_gcdead', '{}', group_key => 'A');
SELECT msg_id, read_ct FROM mq.read('l_gcdead', 5);
SELECT mq.nack('l_gcdead', 1);
SELECT msg_id, read_ct FROM mq.read('l_gcdead', 5);
SELECT dead_lettered, queue_length FROM mq.metrics('l_gcdead');

-- rate_limit: 3 per hour (a burst of 3, then one every 20 minutes)
SELECT mq.create_queue('l_rate', rate_limit => 3, rate_interval => '1 hour');
SELECT count(*) FROM mq.send_batch('l_rate', array_fill('{}'::jsonb, ARRAY[10]));
BEGIN;
SELECT count(*) FROM mq.read('l_rate', 2);
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM mq.read('l_rate', 2);
ROLLBACK TO s;
COMMIT;
-- the rolled-back reads gave their tokens back: 3 now, then none
SELECT count(*) FROM mq.read('l_rate', 10);
SELECT count(*) FROM mq.read('l_rate', 10);
SELECT count(*) FROM mq.pop('l_rate', 10);
SELECT rate_limited_reads >= 2 AS held_back FROM mq.metrics('l_rate');
-- a waiting read held back sleeps until a token (one per 100 ms here)
SELECT mq.create_queue('l_rate_fast', rate_limit => 1, rate_interval => '100 ms');
SELECT count(*) FROM mq.send_batch('l_rate_fast', array_fill('{}'::jsonb, ARRAY[3]));
SELECT count(*) FROM mq.read('l_rate_fast', 3);
SELECT count(*) FROM mq.read('l_rate_fast', 3, wait => '10 s');

-- group_rate_limit: 2 per hour per group
SELECT mq.create_queue('l_grate', group_rate_limit => 2, rate_interval => '1 hour');
SELECT count(*) FROM mq.send_batch('l_grate', array_fill('{}'::jsonb, ARRAY[8]),
								   group_keys => ARRAY['A', 'A', 'A', 'A', 'B', 'B', 'B', NULL]);
SELECT msg_id, group_key FROM mq.read('l_grate', 10);
SELECT msg_id, group_key FROM mq.read('l_grate', 10);
SELECT group_rate_limited > 0 AS held_back FROM mq.metrics('l_grate');

-- the Prometheus text has the new gauges and counters
SELECT line FROM regexp_split_to_table(mq.metrics_prometheus(), E'\n') AS line
WHERE line ~ 'queue="l_gc"' AND line ~ 'groups|rate';

-- errors of a queue whose walk cannot run: a dropped index, a user's trigger
SELECT mq.create_queue('l_broken', fair => true, group_concurrency => 1);
SELECT mq.send('l_broken', '{}', group_key => 'A');
\set VERBOSITY terse
DO $$ BEGIN EXECUTE format('DROP INDEX mq.%I', (SELECT 'q_' || queue_id || '_fair' FROM mq._queue WHERE queue_name = 'l_broken')); END $$;
SELECT count(*) FROM mq.read('l_broken');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.alter_queue('l_broken', fair => false);
DO $$ BEGIN EXECUTE format('DROP INDEX mq.%I', (SELECT 'q_' || queue_id || '_inflight' FROM mq._queue WHERE queue_name = 'l_broken')); END $$;
SELECT count(*) FROM mq.read('l_broken');
SELECT mq.alter_queue('l_broken', group_concurrency => 0);
SELECT mq.alter_queue('l_broken', group_concurrency => 1);
CREATE FUNCTION l_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
DO $$ BEGIN EXECUTE format('CREATE TRIGGER l_noop BEFORE UPDATE ON mq.%I FOR EACH ROW EXECUTE FUNCTION l_noop()', (SELECT 'q_' || queue_id FROM mq._queue WHERE queue_name = 'l_broken')); END $$;
SELECT count(*) FROM mq.read('l_broken');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT mq.drop_queue('l_broken');

-- leave nothing behind for the files after this one
SELECT count(mq.drop_queue(queue_name)) FROM mq.queues WHERE queue_name LIKE 'l\_%';
DROP FUNCTION l_indexes(text), l_noop();
