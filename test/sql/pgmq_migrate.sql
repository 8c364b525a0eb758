-- Moving a pgmq installation into mq and back (doc/pgmq.md): pgmq-shaped
-- tables made here (pgmq's layout, from its documentation) stand for a live
-- installation whose schema was renamed to pgmq_old.
\set SHOW_CONTEXT never
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_pgmq_migrate;
\c regress_pgmq_migrate
SET client_min_messages = warning;

CREATE SCHEMA pgmq_old;
CREATE TABLE pgmq_old.meta (
	queue_name varchar UNIQUE NOT NULL,
	is_partitioned bool NOT NULL,
	is_unlogged bool NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE pgmq_old.topic_bindings (
	pattern text NOT NULL,
	queue_name text NOT NULL REFERENCES pgmq_old.meta (queue_name),
	bound_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (pattern, queue_name));
-- two queues: Orders (named with capitals, as pgmq keeps them) and jobs (unlogged)
INSERT INTO pgmq_old.meta VALUES ('Orders', false, false, '2025-01-01'), ('jobs', false, true, '2025-01-02');
CREATE TABLE pgmq_old.q_orders (
	msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
	read_ct int NOT NULL DEFAULT 0,
	enqueued_at timestamptz NOT NULL DEFAULT now(),
	last_read_at timestamptz,
	vt timestamptz NOT NULL,
	message jsonb,
	headers jsonb);
CREATE TABLE pgmq_old.a_orders (
	msg_id bigint PRIMARY KEY,
	read_ct int NOT NULL DEFAULT 0,
	enqueued_at timestamptz NOT NULL DEFAULT now(),
	last_read_at timestamptz,
	archived_at timestamptz NOT NULL DEFAULT now(),
	vt timestamptz NOT NULL,
	message jsonb,
	headers jsonb);
CREATE UNLOGGED TABLE pgmq_old.q_jobs (LIKE pgmq_old.q_orders INCLUDING ALL);
-- (no archive table for jobs)
-- messages: visible, leased (read twice, vt in an hour), delayed, with headers and groups
INSERT INTO pgmq_old.q_orders (read_ct, enqueued_at, last_read_at, vt, message, headers)
SELECT CASE WHEN i % 3 = 0 THEN 2 ELSE 0 END,
	   timestamptz '2025-06-01' + i * interval '1 minute',
	   CASE WHEN i % 3 = 0 THEN timestamptz '2025-06-02' END,
	   CASE WHEN i % 3 = 0 THEN now() + interval '1 hour'
			WHEN i % 5 = 0 THEN now() + interval '1 day'
			ELSE timestamptz '2025-06-01' + i * interval '1 minute' END,
	   jsonb_build_object('n', i),
	   CASE WHEN i % 2 = 0 THEN jsonb_build_object('x-pgmq-group', 'g' || i % 4) END
FROM generate_series(1, 20) i;
DELETE FROM pgmq_old.q_orders WHERE msg_id IN (4, 8);	-- holes
INSERT INTO pgmq_old.a_orders (msg_id, read_ct, enqueued_at, last_read_at, archived_at, vt, message, headers)
VALUES (4, 1, '2025-06-01', '2025-06-01 01:00', '2025-06-01 02:00', '2025-06-01 01:00:30', '{"n": 4}', NULL),
	   (8, 3, '2025-06-01', NULL, '2025-06-01 03:00', '2025-06-01', '{"n": 8}', '{"k": "v"}');
SELECT setval(pg_get_serial_sequence('pgmq_old.q_orders', 'msg_id'), 25);	-- ids given out past the last
INSERT INTO pgmq_old.q_jobs (vt, message) SELECT now(), jsonb_build_object('job', i) FROM generate_series(1, 3) i;
INSERT INTO pgmq_old.topic_bindings (pattern, queue_name) VALUES ('orders.#', 'Orders');
-- a table that is not a queue is left alone
CREATE TABLE pgmq_old.q_other (id int);
-- a partitioned queue (pg_partman's layout: partitions q_parts_p0 ... by msg_id):
-- read through its parents, once; the partitions are not queues
INSERT INTO pgmq_old.meta VALUES ('parts', true, false, '2025-01-03');
CREATE TABLE pgmq_old.q_parts (
	msg_id bigserial NOT NULL,
	read_ct int NOT NULL DEFAULT 0,
	enqueued_at timestamptz NOT NULL DEFAULT now(),
	last_read_at timestamptz,
	vt timestamptz NOT NULL,
	message jsonb,
	headers jsonb) PARTITION BY RANGE (msg_id);
CREATE TABLE pgmq_old.q_parts_p0 PARTITION OF pgmq_old.q_parts FOR VALUES FROM (0) TO (10);
CREATE TABLE pgmq_old.q_parts_p10 PARTITION OF pgmq_old.q_parts FOR VALUES FROM (10) TO (20);
CREATE TABLE pgmq_old.a_parts (
	msg_id bigint NOT NULL,
	read_ct int NOT NULL DEFAULT 0,
	enqueued_at timestamptz NOT NULL DEFAULT now(),
	last_read_at timestamptz,
	archived_at timestamptz NOT NULL DEFAULT now(),
	vt timestamptz NOT NULL,
	message jsonb,
	headers jsonb) PARTITION BY RANGE (msg_id);
CREATE TABLE pgmq_old.a_parts_p0 PARTITION OF pgmq_old.a_parts FOR VALUES FROM (0) TO (10);
INSERT INTO pgmq_old.q_parts (msg_id, vt, message)
SELECT i, '2025-06-01', jsonb_build_object('p', i) FROM generate_series(3, 15) i;
INSERT INTO pgmq_old.a_parts (msg_id, vt, message) VALUES (1, '2025-06-01', '{"p": 1}'), (2, '2025-06-01', '{"p": 2}');
SELECT setval(pg_get_serial_sequence('pgmq_old.q_parts', 'msg_id'), 15);

-- into mq
CREATE EXTENSION pgmq CASCADE;
SELECT * FROM pgmq.migrate_from('pgmq_old');
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.list_queues() ORDER BY 1;
SELECT queue_name, unlogged FROM mq.queues ORDER BY 1;
-- every message, with its read_ct, enqueued_at, vt and headers (last_read_at: not kept)
SELECT count(*) AS differing FROM (
	(SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq_old.q_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq.q_orders)
	UNION ALL
	(SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq.q_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq_old.q_orders)) d;
SELECT count(*) AS differing FROM (
	(SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq_old.a_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq.a_orders)
	UNION ALL
	(SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq.a_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq_old.a_orders)) d;
SELECT count(*) FROM pgmq.q_jobs;
SELECT pattern, queue_name FROM pgmq.list_topic_bindings();
SELECT count(*), count(DISTINCT msg_id), min(msg_id), max(msg_id) FROM pgmq.q_parts;
SELECT array_agg(msg_id ORDER BY msg_id) FROM pgmq.a_parts;
-- leased messages stay leased, delayed ones delayed: a read takes the visible ones
SELECT array_agg(msg_id ORDER BY msg_id) FROM pgmq.read('Orders', 30, 100);
-- the group header is mq's group key
SELECT format('mq.q_%s', pgmq._queue_id('orders')) AS orders_table \gset
SELECT count(*) FILTER (WHERE group_key = headers->>'x-pgmq-group') AS keyed,
	   count(*) FILTER (WHERE headers ? 'x-pgmq-group') AS grouped FROM :orders_table;
-- new ids go on after the source's
SELECT * FROM pgmq.send('Orders', '{"new": true}');
-- into queues that are not empty: an error, and nothing copied
SELECT * FROM pgmq.migrate_from('pgmq_old');
SELECT count(*) FROM pgmq.q_orders;
-- bad sources
SELECT * FROM pgmq.migrate_from('pgmq');
SELECT * FROM pgmq.migrate_from('no_such_schema');

-- and back: pgmq's own tables in a schema of their own
SELECT pgmq.delete('Orders', 26);
UPDATE pgmq.q_orders SET vt = v.vt, read_ct = v.read_ct
FROM pgmq_old.q_orders v WHERE v.msg_id = q_orders.msg_id;	-- (undo the read above)
SELECT * FROM pgmq.migrate_to('pgmq_back');
SELECT queue_name, is_partitioned, is_unlogged, created_at FROM pgmq_back.meta ORDER BY 1;
SELECT relname, relpersistence FROM pg_class
WHERE relnamespace = 'pgmq_back'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT count(*) AS differing FROM (
	(SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq_old.q_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq_back.q_orders)
	UNION ALL
	(SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq_back.q_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq_old.q_orders)) d;
SELECT count(*) AS differing FROM (
	(SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq_old.a_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq_back.a_orders)
	UNION ALL
	(SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq_back.a_orders
	 EXCEPT SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq_old.a_orders)) d;
SELECT count(*) FROM pgmq_back.q_jobs;
SELECT pattern, queue_name, 'orders.x.y' ~ compiled_regex AS routes FROM pgmq_back.topic_bindings;
-- the next msg_id there is the one mq would give
INSERT INTO pgmq_back.q_orders (vt, message) VALUES (now(), '{}') RETURNING msg_id;
-- not into pgmq, nor over pgmq's tables
SELECT * FROM pgmq.migrate_to('pgmq');
SELECT * FROM pgmq.migrate_to('pgmq_back');
-- bytes messages have no place in pgmq
SELECT mq.send('jobs', payload => '\x00'::bytea);
SELECT * FROM pgmq.migrate_to('pgmq_back2');
-- in the archive too
SELECT pgmq.archive('jobs', (SELECT msg_id FROM pgmq.q_jobs WHERE message IS NULL));
SELECT * FROM pgmq.migrate_to('pgmq_back2');

\c :regress_db
DROP DATABASE regress_pgmq_migrate WITH (FORCE);
