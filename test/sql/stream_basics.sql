-- Streams, part one: create, alter, drop, append, replay (README, "Streams").
\set SHOW_CONTEXT never

-- options and their errors
SELECT mq.create_stream('s_bad', partitions => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_stream('s_bad', partitions => 2000);
SELECT mq.create_stream('s_bad', retention => '-1 day');
SELECT mq.create_stream('s_bad', retention_bytes => -1);
SELECT mq.create_stream('s_bad', partitions => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_stream('bad name');
SELECT mq.create_stream(NULL);
SELECT count(*) FROM mq.streams WHERE stream = 's_bad';

-- a stream is declared like a queue: the same options again are a no-op
SELECT mq.create_stream('s_orders', partitions => 4, retention => '1 day');
SELECT mq.create_stream('s_orders', partitions => 4, retention => '1 day');
SELECT mq.create_stream('s_orders', partitions => 8);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT stream, partitions, retention, retention_bytes, unlogged, owner FROM mq.streams;

-- queues and streams share one namespace
SELECT mq.create_queue('s_orders');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue('s_q');
SELECT mq.create_stream('s_q');
SELECT mq.drop_queue('s_q');

-- a key always maps to the same partition: FNV-1a of its bytes, modulo
SELECT mq.stream_partition('customer-1', 4), mq.stream_partition('customer-2', 4),
	   mq.stream_partition('', 4), mq.stream_partition('customer-1', 1);
SELECT * FROM mq.append('s_orders', '{"n": 1}', key => 'customer-1');
SELECT * FROM mq.append('s_orders', '{"n": 2}', key => 'customer-1',
						headers => '{"h": 1}');
SELECT * FROM mq.append('s_orders', '{"n": 3}', key => 'customer-2');
SELECT * FROM mq.append_batch('s_orders', ARRAY['{"n": 4}', '{"n": 5}', '{"n": 6}']::jsonb[],
							  keys => ARRAY['customer-2', 'customer-1', 'customer-2']);
-- positions are per partition, from 0, in append order
SELECT partition, position, key, headers, body FROM mq.read_stream('s_orders',
	mq.stream_partition('customer-1', 4), 0);
SELECT partition, position, key, body FROM mq.read_stream('s_orders',
	mq.stream_partition('customer-2', 4), 1, max => 1);
-- records without a key spread over the partitions
SELECT count(DISTINCT partition) FROM mq.append_batch('s_orders',
	ARRAY['{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}']::jsonb[]);
-- a rolled-back append leaves a gap; the next one goes on after it
BEGIN;
SELECT position FROM mq.append('s_orders', '{"n": "rolled back"}', key => 'customer-1');
ROLLBACK;
SELECT position FROM mq.append('s_orders', '{"n": 7}', key => 'customer-1');
SELECT position, body FROM mq.read_stream('s_orders', mq.stream_partition('customer-1', 4), 2);
-- a record is readable once its transaction commits (not before, even by
-- that transaction: its position is in flight until then)
BEGIN;
SELECT position FROM mq.append('s_orders', '{"n": 8}', key => 'customer-2');
SELECT position FROM mq.read_stream('s_orders', mq.stream_partition('customer-2', 4), 5);
COMMIT;
SELECT position, body FROM mq.read_stream('s_orders', mq.stream_partition('customer-2', 4), 5);

-- errors of appends and reads
SELECT mq.append('s_nope', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append(NULL, '{}');
SELECT mq.append('s_orders', NULL);
SELECT mq.append('s_orders', '{}', headers => '[1]');
SELECT count(*) FROM mq.append_batch('s_orders', ARRAY[]::jsonb[]);
SELECT count(*) FROM mq.append_batch('s_orders', ARRAY['{}']::jsonb[], keys => ARRAY['a', 'b']);
SELECT * FROM mq.read_stream('s_orders', 4, 0);
SELECT * FROM mq.read_stream('s_orders', 0, -1);
SELECT * FROM mq.read_stream('s_orders', 0, 0, max => 0);
SELECT * FROM mq.read_stream('s_orders', NULL, 0);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM mq.read_stream('s_orders', 0, 0);
ROLLBACK;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
SELECT position FROM mq.append('s_orders', '{}', key => 'customer-1');
PREPARE TRANSACTION 's_prep';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- nor one that created or dropped a stream (its shared memory would be
-- kept or given back by a session that does not know how it ends)
BEGIN;
SELECT mq.create_stream('s_prepared');
PREPARE TRANSACTION 's_prep';
BEGIN;
SELECT mq.drop_stream('s_orders');
PREPARE TRANSACTION 's_prep';

-- alter: partitions only grow; drop
SELECT mq.alter_stream('s_orders', partitions => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.alter_stream('s_orders', partitions => 6, retention => '2 days', retention_bytes => 1000000);
SELECT stream, partitions, retention, retention_bytes FROM mq.streams;
SELECT mq.alter_stream('s_orders', retention_bytes => 0);
SELECT retention_bytes FROM mq.streams;
SELECT * FROM mq.append('s_orders', '{"n": "new partition"}', key => 'customer-1');
SELECT mq.alter_stream('s_nope', partitions => 2);
SELECT mq.drop_stream('s_nope');
SELECT mq.drop_stream('s_nope', if_exists => true);
SELECT mq.drop_stream('s_orders');
SELECT count(*) FROM mq.streams;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'mq' AND c.relname LIKE 's\_%';

-- only the owner (and superusers) use a stream so far
CREATE ROLE s_owner;
CREATE ROLE s_other;
GRANT CREATE ON SCHEMA public TO s_owner;
SET ROLE s_owner;
SELECT mq.create_stream('s_mine');
SELECT position FROM mq.append('s_mine', '{}');
SET ROLE s_other;
SELECT mq.create_stream('s_mine');
SELECT mq.append('s_mine', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.read_stream('s_mine', 0, 0);
SELECT mq.drop_stream('s_mine');
RESET ROLE;
SELECT mq.drop_stream('s_mine');
REVOKE CREATE ON SCHEMA public FROM s_owner;
DROP ROLE s_owner, s_other;

-- limits: at most 16 partitions per transaction; stream_partition's argument
SELECT mq.create_stream('s_wide', partitions => 20);
BEGIN;
SELECT count(*) FROM mq.append_batch('s_wide', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 20)));
ROLLBACK;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('s_wide', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 16)));
SELECT mq.stream_partition('k', 0);
-- a drop rolled back to a savepoint keeps the stream, and its positions
-- (records without a key start at a partition of the backend's, so compare)
SELECT position AS before FROM mq.append('s_wide', '{}', key => 'k') \gset
BEGIN;
SAVEPOINT a;
SELECT mq.drop_stream('s_wide');
ROLLBACK TO a;
COMMIT;
SELECT position = :before + 1 AS next_position FROM mq.append('s_wide', '{}', key => 'k');
SELECT mq.drop_stream('s_wide');

-- a single append goes into the segment table without SQL; a table that
-- somebody gave a trigger gets the statement instead, and the trigger fires
SELECT mq.create_stream('s_trig');
SELECT 'mq.s_' || stream_id || '_' || (SELECT max(segment) FROM mq._stream_segment g
	WHERE g.stream_id = s.stream_id) AS seg FROM mq._stream s WHERE stream_name = 's_trig' \gset
CREATE TABLE s_trig_seen (body jsonb);
CREATE FUNCTION s_trig_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.s_trig_seen VALUES (NEW.body);
	RETURN NEW;
END;
$$;
SELECT position FROM mq.append('s_trig', '{"n": 1}');
CREATE TRIGGER note AFTER INSERT ON :seg FOR EACH ROW EXECUTE FUNCTION s_trig_note();
SELECT position FROM mq.append('s_trig', '{"n": 2}');
SELECT * FROM s_trig_seen;
SELECT position, body FROM mq.read_stream('s_trig', 0, 0);
SELECT mq.drop_stream('s_trig');
DROP TABLE s_trig_seen;
DROP FUNCTION s_trig_note();
