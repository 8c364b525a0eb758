-- Every error a user can see from the queue API, with its SQLSTATE.
\set SHOW_CONTEXT never
SELECT mq.create_queue('q');

-- unknown queue: 42704
SELECT mq.send('nope', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.read('nope');
SELECT mq.pop('nope');
SELECT mq.ack('nope', 1);
SELECT mq.ack_batch('nope', ARRAY[1]::bigint[]);
SELECT mq.nack('nope', 1);
SELECT mq.set_vt('nope', 1, '1 s');
SELECT mq.archive_batch('nope', ARRAY[1]::bigint[]);
SELECT mq.send_batch('nope', ARRAY['{}']::jsonb[]);
SELECT mq.purge_queue('nope');
SELECT mq.alter_queue('nope', fifo => true);
SELECT mq.metrics('nope');
SELECT mq.drop_queue('nope');
SELECT mq.create_queue('x', dead_letter_queue => 'nope');

-- invalid names: 22023 with a hint; the name is clipped in the message
SELECT mq.create_queue('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue(repeat('x', 49));
SELECT mq.create_queue(repeat('y', 10000));
SELECT mq.create_queue('has space');
SELECT mq.create_queue('semi;colon');
SELECT mq.create_queue('q''; DROP TABLE mq._queue; --');
SELECT mq.create_queue('dollar$$quote');
SELECT mq.create_queue('schema"."table');
SELECT mq.create_queue('naïve');
SELECT mq.create_queue('tab	tab');
SELECT mq.send('has space', '{}');
SELECT mq.read('a/b');
SELECT mq.drop_queue('*');
SELECT mq.create_queue('x', dead_letter_queue => 'bad name');
-- nothing was created by any of that
SELECT queue_name FROM mq.queues;

-- NULLs: 22004
SELECT mq.send(NULL, '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('q', NULL);
SELECT mq.create_queue(NULL);
SELECT mq.drop_queue(NULL);
SELECT mq.read(NULL);
SELECT mq.pop(NULL);
SELECT mq.ack('q', NULL::bigint);
SELECT mq.ack_batch('q', NULL::bigint[]);
SELECT mq.nack('q', NULL);
SELECT mq.set_vt('q', NULL, '1 s');
SELECT mq.set_vt('q', 1, NULL);
SELECT mq.archive_batch('q', NULL);
SELECT mq.send_batch('q', NULL);
SELECT mq.send_batch('q', ARRAY['{}', NULL]::jsonb[]);
SELECT mq.create_queue('x', fifo => NULL);
SELECT mq.create_queue('x', visibility_timeout => NULL);

-- bad values: 22023
SELECT mq.send('q', '{}', delay => '-1 s');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('q', '{}', headers => '[1, 2]');
SELECT mq.send('q', '{}', headers => '"text"');
SELECT mq.read('q', 0);
SELECT mq.read('q', -1);
SELECT mq.read('q', 1, '0 s');
SELECT mq.read('q', 1, '-5 s');
SELECT mq.read('q', 1, '1 s', '-1 s');
SELECT mq.pop('q', 0);
SELECT mq.nack('q', 1, '-1 s');
SELECT mq.set_vt('q', 1, '-1 s');
SELECT mq.create_queue('x', visibility_timeout => '0');
SELECT mq.create_queue('x', visibility_timeout => '-1 s');
SELECT mq.create_queue('x', max_receives => -1);
SELECT mq.create_queue('x', message_ttl => '-1 s');
SELECT mq.create_queue('x', max_length => -1);
SELECT mq.create_queue('x', overflow => 'drop_tail');
SELECT mq.create_queue('x', dedup_window => '-1 s');
SELECT mq.create_queue('x', retention => '-1 day');
SELECT mq.create_queue('q', dead_letter_queue => 'q');
SELECT mq.alter_queue('q', visibility_timeout => '-1 s');
SELECT mq.alter_queue('q', overflow => 'nope');

-- batch limits: 22023 with a hint
SET mq.max_batch_size = 3;
SELECT mq.read('q', 4);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.pop('q', 4);
SELECT mq.send_batch('q', ARRAY['{}', '{}', '{}', '{}']::jsonb[]);
SELECT mq.ack_batch('q', ARRAY[1, 2, 3, 4]::bigint[]);
SELECT mq.archive_batch('q', ARRAY[1, 2, 3, 4]::bigint[]);
SELECT count(*) FROM mq.send_batch('q', ARRAY['{}', '{}', '{}']::jsonb[]);
RESET mq.max_batch_size;
SELECT mq.send_batch('q', ARRAY[]::jsonb[]);
SELECT mq.send_batch('q', ARRAY[['{}'], ['{}']]::jsonb[]);
SELECT mq.send_batch('q', ARRAY['{}', '{}']::jsonb[], headers => ARRAY['{}']::jsonb[]);
SELECT mq.send_batch('q', ARRAY['{}', '{}']::jsonb[], headers => ARRAY['{}', '[]']::jsonb[]);
SELECT mq.send_batch('q', ARRAY['{}', '{}']::jsonb[], dedup_keys => ARRAY['a']);
SELECT mq.send_batch('q', ARRAY['{}', '{}']::jsonb[], group_keys => ARRAY['a', 'b', 'c']);
SELECT mq.send_batch('q', ARRAY['{}']::jsonb[], delay => '-1 s');
SELECT mq.purge_queue('q');

-- waits: at most mq.max_wait, and only where new commits can be seen
SET mq.max_wait = '1s';
SELECT mq.read('q', 1, '1 s', '2 s');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET mq.max_wait;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT mq.read('q', 1, '1 s', '1 s');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM mq.read('q', 1, '1 s');   -- no wait: fine
COMMIT;
-- statement_timeout interrupts a wait
SET statement_timeout = '200ms';
SELECT mq.read('q', 1, '1 s', '30 s');
RESET statement_timeout;

-- duplicate declaration: 42710
SELECT mq.create_queue('q', max_receives => 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- dropping a dead-letter queue that is in use clears the users' setting
SELECT mq.create_queue('dlq');
SELECT mq.alter_queue('q', dead_letter_queue => 'dlq');
BEGIN;
SELECT mq.drop_queue('dlq');
SELECT dead_letter_queue FROM mq.queues WHERE queue_name = 'q';
ROLLBACK;

-- acking or nacking an unknown id is not an error
SELECT mq.ack('q', 424242), mq.nack('q', 424242), mq.set_vt('q', 424242, '1 s');
SELECT count(*) FROM mq.ack_batch('q', ARRAY[424242]::bigint[]);
SELECT mq.ack_batch('q', ARRAY[[1], [2]]::bigint[]);
SELECT mq.archive_batch('q', ARRAY[[1], [2]]::bigint[]);

-- internal helpers refuse misuse
SELECT mq._catalog_changed();
SELECT mq._announce('no_such_queue');
SELECT mq._announce(NULL) IS NULL AS strict;
SELECT mq._require_primary(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

SELECT mq.drop_queue('q'), mq.drop_queue('dlq');

-- a read-only transaction cannot change queues: 25006
SELECT mq.create_queue('ro');
BEGIN READ ONLY;
SELECT mq.send('ro', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN READ ONLY;
SELECT mq.read('ro');
ROLLBACK;
BEGIN READ ONLY;
SELECT mq.create_queue('ro2');
ROLLBACK;
BEGIN READ ONLY;
SELECT queue_name, queue_length FROM mq.metrics('ro');   -- watching is fine
SELECT count(*) FROM mq.queues;
ROLLBACK;
SELECT mq.drop_queue('ro');

-- intervals are at most 100 years: beyond, now plus or minus one leaves
-- PostgreSQL's timestamps (22023, never 22008)
SELECT mq.create_queue('iv');
SELECT mq.create_queue('iv2', visibility_timeout => '101 years');
SELECT mq.create_queue('iv2', message_ttl => '178000000 years');
SELECT mq.create_queue('iv2', dedup_window => '2147483647 days');
SELECT mq.create_queue('iv2', retention => '1201 months');
-- each field counts on its own: short as a whole, but now plus it adds the
-- years first and leaves the timestamps
SELECT mq.create_queue('iv2', dedup_window => '5880000 years -2116800000 days');
SELECT mq.create_queue('iv2', message_ttl => '-5880000 years 2147483647 days');
SELECT mq.create_stream('iv_s', retention => '5880000 years -2116800000 days');
SELECT mq.alter_queue('iv', message_ttl => '178000000 years');
SELECT mq.send('iv', '{}', delay => '178000000 years');
SELECT mq.send_batch('iv', ARRAY['{}']::jsonb[], delay => '101 years');
SELECT mq.read('iv', 1, '178000000 years');
SELECT mq.read('iv', 1, '1 second', wait => '178000000 years');
SELECT mq.send('iv', '{}') AS id \gset
SELECT mq.nack('iv', :id, '178000000 years');
SELECT mq.set_vt('iv', :id, '178000000 years');
SELECT mq.create_exchange('iv_x');
SELECT mq.publish('iv_x', 'k', '{}', delay => '178000000 years');
SELECT mq.create_queue('iv2', message_ttl => '100 years', retention => '100 years');	-- the limit itself is fine
-- a queue of 0.1.0, which did not check, does not stop the maintenance of
-- the others: mq.maintain() warns and goes on; its messages can be read
SELECT mq.create_queue('iv0', max_receives => 3);
UPDATE mq._queue SET message_ttl = '178000000 years', dedup_window = '178000000 years',
	retention = '178000000 years' WHERE queue_name = 'iv0';
SELECT mq.send('iv0', '{}', dedup_key => 'k') > 0 AS sent;
SELECT count(*) FROM mq.read('iv0');
SELECT queue_name FROM mq.maintain() WHERE queue_name LIKE 'iv%' ORDER BY 1;
-- ... and says so at most every 10 minutes (the worker runs it every second)
SELECT queue_name FROM mq.maintain() WHERE queue_name LIKE 'iv%' ORDER BY 1;
SELECT mq.drop_queue('iv'), mq.drop_queue('iv0'), mq.drop_queue('iv2'), mq.drop_exchange('iv_x');

-- what an error echoes is clipped to 64 characters
SELECT mq.create_exchange('clip_x', repeat('t', 10000));
SELECT mq.create_queue('clip', overflow => repeat('o', 10000));
SELECT mq.create_queue('clip');
SELECT mq.grant('clip', 'public', repeat('p', 10000));
SELECT mq.create_exchange('clip_h', 'headers');
SELECT mq.bind('clip_h', 'clip', '', jsonb_build_object('x-match', repeat('m', 500)));
-- binding arguments are at most 1 kB (54000), not an index error
SELECT mq.bind('clip_h', 'clip', '', jsonb_build_object('a', repeat('m', 1100)));
SELECT mq.bind('clip_h', 'clip', '', jsonb_build_object('a', repeat('m', 1000)));
SELECT count(*) FROM mq.bindings WHERE source = 'clip_h';
-- a trigger on a temporary table in a read-only transaction: mq's message
CREATE TEMP TABLE ro_t (x int);
CREATE TRIGGER ro_t AFTER INSERT ON ro_t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('clip');
BEGIN READ ONLY;
INSERT INTO ro_t VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
DROP TABLE ro_t;
SELECT mq.drop_exchange('clip_h', cascade => true), mq.drop_queue('clip');

-- group and dedup keys are at most 512 bytes (22023), refused at send, so
-- no message can fail later on its way into a FIFO dead-letter queue's
-- index and block its queue's reads
SELECT mq.create_queue('longkey_dlq', fifo => true);
SELECT mq.create_queue('longkey', max_receives => 1, dead_letter_queue => 'longkey_dlq');
SELECT mq.send('longkey', '{}', group_key => repeat('g', 6000));
SELECT mq.send('longkey', '{}', dedup_key => repeat('d', 513));
SELECT count(*) FROM mq.send_batch('longkey', ARRAY['{}'::jsonb, '{}'], group_keys => ARRAY['a', repeat('g', 513)]);
SELECT count(*) FROM mq.send_batch('longkey', ARRAY['{}'::jsonb], dedup_keys => ARRAY[repeat('d', 513)]);
SELECT mq.create_exchange('longkey_x', 'fanout');
SELECT mq.bind('longkey_x', 'longkey');
SELECT mq.publish('longkey_x', '', '{}', group_key => repeat('g', 513));
-- at the limit: sent, read, and dead-lettered into the FIFO queue
SELECT mq.send('longkey', '{}', group_key => repeat('g', 512), dedup_key => repeat('d', 512)) > 0 AS sent;
SELECT count(*) FROM mq.read('longkey', 1, '1 millisecond');
SELECT pg_sleep(0.01);
SELECT count(*) FROM mq.read('longkey');
SELECT length(group_key) FROM mq.read('longkey_dlq');
SELECT mq.drop_exchange('longkey_x', cascade => true), mq.drop_queue('longkey'), mq.drop_queue('longkey_dlq');
