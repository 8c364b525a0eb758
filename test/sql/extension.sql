--
-- DROP EXTENSION mq, then CREATE EXTENSION mq again (issue 30): the drop
-- takes the tables of queues and streams with it, and the new extension
-- starts clean, although its ids start again at 1 (shared memory keeps
-- nothing of the old one).  In a database of its own: the other suites
-- share theirs.
--
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_mq_extension;
\c regress_mq_extension
CREATE EXTENSION mq;
SELECT mq.create_queue('q');
SELECT count(*) FROM (SELECT mq.send('q', '{}') FROM generate_series(1, 5)) s;
SELECT count(*) FROM mq.pop('q', 5);
SELECT count(*) FROM mq.read('q');
SELECT mq.create_stream('s', partitions => 1);
SELECT count(*) FROM mq.append_batch('s', ARRAY['{}', '{}', '{}']::jsonb[]);
SELECT mq.create_consumer_group('s', 'g', 'earliest');
SELECT count(*) FROM mq.poll('s', 'g', 'c1');
SELECT relname FROM pg_class WHERE relnamespace = 'mq'::regnamespace
	AND relname ~ '^[qads]_[0-9_]+$' ORDER BY relname;

-- without CASCADE the drop refuses: the tables hold messages
\set VERBOSITY terse
DROP EXTENSION mq;
\set VERBOSITY default
SET client_min_messages = warning;
DROP EXTENSION mq CASCADE;
RESET client_min_messages;
SELECT relname FROM pg_class WHERE relnamespace = 'mq'::regnamespace ORDER BY relname;

CREATE EXTENSION mq;
SELECT mq.create_queue('q');
SELECT mq.send('q', '{"new": true}');
SELECT msg_id, body FROM mq.read('q');
SELECT mq.create_stream('s', partitions => 1);
SELECT * FROM mq.append('s', '{"new": true}');
SELECT mq.create_consumer_group('s', 'g', 'earliest');
SELECT * FROM mq.partition_holder('s', 'g', 0);
SELECT position, body FROM mq.poll('s', 'g', 'c2');
SELECT consumer FROM mq.partition_holder('s', 'g', 0);

-- CREATE EXTENSION IF NOT EXISTS of the one there forgets nothing
CREATE EXTENSION IF NOT EXISTS mq;
SELECT consumer FROM mq.partition_holder('s', 'g', 0);
SELECT * FROM mq.append('s', '{"n": 2}');

\c :regress_db
DROP DATABASE regress_mq_extension WITH (FORCE);
