--
-- Streams: what a rolled-back transaction or savepoint leaves (issue 30).
--

-- An append undone by ROLLBACK TO SAVEPOINT no longer holds the readable
-- end back; a released savepoint's append still does, until the commit.
SELECT mq.create_stream('sp_s', partitions => 1);
BEGIN;
SAVEPOINT a;
SELECT position FROM mq.append('sp_s', '{"n": 0}');
SELECT mq.stream_end('sp_s', 0);
ROLLBACK TO SAVEPOINT a;
SELECT mq.stream_end('sp_s', 0);
SAVEPOINT b;
SELECT position FROM mq.append('sp_s', '{"n": 1}');
RELEASE SAVEPOINT b;
SAVEPOINT c;
ROLLBACK TO SAVEPOINT c;
SELECT mq.stream_end('sp_s', 0);
COMMIT;
SELECT mq.stream_end('sp_s', 0);
-- an append before the savepoint covers the one made in it
BEGIN;
SELECT position FROM mq.append('sp_s', '{"n": 2}');
SAVEPOINT d;
SELECT position FROM mq.append('sp_s', '{"n": 3}');
ROLLBACK TO SAVEPOINT d;
SELECT mq.stream_end('sp_s', 0);
COMMIT;
SELECT mq.stream_end('sp_s', 0);
SELECT position, body FROM mq.read_stream('sp_s', 0, 0);
SELECT mq.drop_stream('sp_s');

-- A seek that rolls back does not fence the partition's holder: its commit
-- is valid and the records do not come again.  One that commits does.
SELECT mq.create_stream('sp_g', partitions => 1);
SELECT count(*) FROM mq.append_batch('sp_g', ARRAY['{}', '{}', '{}']::jsonb[]);
SELECT mq.create_consumer_group('sp_g', 'g', 'earliest');
SELECT count(*) FROM mq.poll('sp_g', 'g', 'c1');
BEGIN;
SELECT mq.seek('sp_g', 'g', 0, "position" => 0);
ROLLBACK;
SELECT mq.commit('sp_g', 'g', 'c1', 0, 2);
SELECT count(*) FROM mq.poll('sp_g', 'g', 'c1');
-- the same in a savepoint
BEGIN;
SAVEPOINT s;
SELECT mq.seek('sp_g', 'g', 0, "position" => 0);
ROLLBACK TO SAVEPOINT s;
SELECT mq.commit('sp_g', 'g', 'c1', 0, 3);
COMMIT;
SELECT count(*) FROM mq.poll('sp_g', 'g', 'c1');
-- a seek that commits, from a released savepoint: the holder starts again
-- at the position sought, and its commits fail until it polls
BEGIN;
SAVEPOINT s;
SELECT mq.seek('sp_g', 'g', 0, "position" => 1);
RELEASE SAVEPOINT s;
SELECT mq.commit('sp_g', 'g', 'c1', 0, 3);
COMMIT;
SELECT mq.commit('sp_g', 'g', 'c1', 0, 3);
SELECT position FROM mq.poll('sp_g', 'g', 'c1');
SELECT mq.commit('sp_g', 'g', 'c1', 0, 3);
-- two seeks in one transaction: the second wins
BEGIN;
SELECT mq.seek('sp_g', 'g', 0, "position" => 0);
SELECT mq.seek('sp_g', 'g', 0, "position" => 2);
COMMIT;
SELECT position FROM mq.poll('sp_g', 'g', 'c1');
-- a transaction that sought cannot be prepared
BEGIN;
SELECT mq.seek('sp_g', 'g', 0, "position" => 0);
PREPARE TRANSACTION 'sp_seek';
SELECT position FROM mq.poll('sp_g', 'g', 'c1');
SELECT mq.drop_stream('sp_g');
