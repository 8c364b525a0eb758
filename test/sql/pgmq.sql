-- The pgmq extension: pgmq's API (1.11) on mq queues, written from pgmq's
-- documentation (doc/pgmq.md).  In a database of its own, made by
-- CREATE EXTENSION pgmq CASCADE as pgmq's clients run it.
\set SHOW_CONTEXT never
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_pgmq;
\c regress_pgmq
SET client_min_messages = notice;
CREATE EXTENSION pgmq CASCADE;
SELECT extname, extversion FROM pg_extension WHERE extname IN ('mq', 'pgmq') ORDER BY 1;

-- the types, in pgmq's columns
SELECT t.typname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
WHERE t.typnamespace = 'pgmq'::regnamespace AND t.typname IN ('message_record', 'queue_record', 'metrics_result')
GROUP BY t.typname ORDER BY 1;

-- ---- queues ----
SELECT pgmq.create('orders');
SELECT pgmq.create('orders');			-- again: a no-op
SELECT pgmq.create_non_partitioned('Plain');	-- lower-cased table names, as pgmq
SELECT pgmq.create_unlogged('fast');
SELECT pgmq.create_partitioned('parts', '10000', '100000');
SELECT pgmq.create_partitioned('timed', '1 day', '7 days');
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.list_queues();
-- each is an mq queue (lower-cased name), usable through mq.*
SELECT queue_name, unlogged, retention FROM mq.queues
WHERE queue_name IN ('orders', 'plain', 'fast', 'parts', 'timed') ORDER BY 1;
-- and has pgmq's views, in pgmq's columns
SELECT c.relname, string_agg(a.attname, ', ' ORDER BY a.attnum)
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname IN ('q_orders', 'a_orders', 'q_plain')
GROUP BY c.relname ORDER BY 1;
-- pgmq's errors for names
SELECT pgmq.create(repeat('x', 48));
SELECT pgmq.create(repeat('x', 47));
SELECT pgmq.create('bad;name');
SELECT pgmq.create('bad--name');
SELECT pgmq.create('it''s');
SELECT pgmq.create('a$b');
SELECT pgmq.format_table_name('Orders', 'q');
SELECT pgmq.drop_queue(repeat('x', 47));
-- an mq queue made by mq.* is adopted by pgmq.create
SELECT mq.create_queue('from_mq', fifo => true);
SELECT mq.send('from_mq', '{"early": true}');
SELECT pgmq.create('from_mq');
SELECT msg_id, message FROM pgmq.q_from_mq;

-- ---- send ----
SELECT * FROM pgmq.send('orders', '{"n": 1}');
SELECT * FROM pgmq.send('orders', '{"n": 2}', '{"h": 1}'::jsonb);
SELECT * FROM pgmq.send('orders', '{"n": 3}', 0);
SELECT * FROM pgmq.send('orders', '{"n": 4}', now() - interval '1 hour');
SELECT * FROM pgmq.send('orders', '{"n": 5}', '{"h": 2}'::jsonb, 0);
SELECT * FROM pgmq.send('orders', '{"n": 6}', '{"h": 3}'::jsonb, now());
SELECT * FROM pgmq.send('ORDERS', '{"n": 7}');	-- the same queue
-- a delay keeps a message invisible: in seconds, or until a time
SELECT * FROM pgmq.send('orders', '{"n": "later"}', 3600);
SELECT * FROM pgmq.send('orders', '{"n": "later2"}', '{}'::jsonb, now() + interval '1 hour');
SELECT msg_id, message, headers, read_ct, last_read_at IS NULL AS never_read,
	   vt > now() + interval '50 minutes' AS delayed
FROM pgmq.q_orders ORDER BY msg_id;
SELECT * FROM pgmq.send_batch('orders', ARRAY['{"b": 1}', '{"b": 2}']::jsonb[]);
SELECT * FROM pgmq.send_batch('orders', ARRAY['{"b": 3}']::jsonb[], ARRAY['{"h": "b"}']::jsonb[]);
SELECT * FROM pgmq.send_batch('orders', ARRAY['{"b": 4}']::jsonb[], 0);
SELECT * FROM pgmq.send_batch('orders', ARRAY['{"b": 5}']::jsonb[], now());
SELECT * FROM pgmq.send_batch('orders', ARRAY['{"b": 6}']::jsonb[], ARRAY['{"h": "c"}']::jsonb[], 0);
SELECT * FROM pgmq.send_batch('orders', ARRAY['{"b": 7}']::jsonb[], ARRAY['{"h": "d"}']::jsonb[], now());
SELECT * FROM pgmq.send_batch('orders', ARRAY['{"b": "later"}']::jsonb[], 3600);
-- pgmq's errors for batches
SELECT * FROM pgmq.send_batch('orders', ARRAY[]::jsonb[]);
SELECT * FROM pgmq.send_batch('orders', NULL::jsonb[]);
SELECT * FROM pgmq.send_batch('orders', ARRAY['{}', '{}']::jsonb[], ARRAY['{}']::jsonb[]);
-- a queue that does not exist
SELECT * FROM pgmq.send('nope', '{}');
SELECT * FROM pgmq.read('nope', 10, 1);

-- ---- read, pop, set_vt, delete, archive ----
SELECT msg_id, read_ct, message, headers, last_read_at IS NOT NULL AS read_now,
	   vt > now() + interval '50 seconds' AS leased
FROM pgmq.read('orders', 60, 3);
-- the leased ones are not read again
SELECT msg_id, read_ct FROM pgmq.read('orders', 60, 1);
-- qty 0 reads nothing, as pgmq's (inlined, and called in a select list)
SELECT count(*) FROM pgmq.read('orders', 60, 0);
SELECT count(*) FROM (SELECT pgmq.read('orders', 60, 0)) r;
-- conditional: JSON containment of the message
SELECT msg_id, message FROM pgmq.read('orders', 60, 5, '{"b": 2}');
SELECT msg_id, message FROM pgmq.read('orders', 60, 5, '{"b": 2}');
-- vt 0: visible again at once
SELECT msg_id, read_ct FROM pgmq.read('orders', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read('orders', 0, 1);
-- set_vt: seconds from now, or a time; one id or many; any message, leased or not
SELECT msg_id, vt > now() + interval '50 minutes' AS later FROM pgmq.set_vt('orders', 1, 3600);
SELECT msg_id, vt < now() AS past FROM pgmq.set_vt('orders', 1, now() - interval '1 minute');
SELECT msg_id, read_ct FROM pgmq.read('orders', 60, 1);
SELECT msg_id FROM pgmq.set_vt('orders', ARRAY[1, 2, 99]::bigint[], 0) ORDER BY 1;
SELECT msg_id FROM pgmq.set_vt('orders', ARRAY[1, 2]::bigint[], now() + interval '1 hour') ORDER BY 1;
SELECT msg_id FROM pgmq.set_vt('orders', 99, 10);
SELECT msg_id FROM pgmq.set_vt('orders', 1, NULL::timestamptz);
SELECT msg_id FROM pgmq.set_vt('orders', 1, NULL::int);
SELECT msg_id FROM pgmq.set_vt('orders', ARRAY[1], NULL::int);
-- pop: read and delete
SELECT msg_id, message, read_ct FROM pgmq.pop('orders');
SELECT msg_id, message FROM pgmq.pop('orders', 2);
-- delete and archive: one id, or many (the ids done)
SELECT pgmq.delete('orders', 3), pgmq.delete('orders', 3);
SELECT pgmq.delete('orders', NULL::bigint);
SELECT * FROM pgmq.delete('orders', ARRAY[10, 12, 99]::bigint[]) ORDER BY 1;
SELECT pgmq.archive('orders', 13), pgmq.archive('orders', 13);
SELECT * FROM pgmq.archive('orders', ARRAY[1, 2, 99]::bigint[]) ORDER BY 1;
SELECT msg_id, message, read_ct, archived_at IS NOT NULL AS archived FROM pgmq.a_orders ORDER BY msg_id;
-- mq sees the same archive
SELECT archive_length FROM mq.metrics('orders');

-- read is inlined in FROM; in the select list (not inlined) it leases the same way
SELECT pgmq.create('inline');
SELECT * FROM pgmq.send_batch('inline', ARRAY['{"i": 1}', '{"i": 2}', '{"i": 3}']::jsonb[]);
BEGIN;
SELECT (pgmq.read('inline', 60, 1)).msg_id;
SELECT (pgmq.read('inline', 60, 1, '{"i": 3}')).msg_id;
SELECT msg_id FROM pgmq.read('inline', 60, 5);
COMMIT;
SELECT msg_id, read_ct FROM pgmq.q_inline ORDER BY msg_id;
SELECT pgmq.drop_queue('inline');

-- ---- read_with_poll: mq.read() with its wait ----
SELECT pgmq.create('polled');
SELECT msg_id FROM pgmq.read_with_poll('polled', 10, 1, 1, 100);	-- nothing: after 1 s
SELECT * FROM pgmq.send('polled', '{"p": 1}');
SELECT * FROM pgmq.send('polled', '{"p": 2}');
SELECT msg_id, message FROM pgmq.read_with_poll('polled', 10, 5);
SELECT * FROM pgmq.send('polled', '{"p": 3, "k": "x"}');
SELECT msg_id, message FROM pgmq.read_with_poll('polled', 10, 5, 1, 50, '{"k": "y"}');
SELECT msg_id, message FROM pgmq.read_with_poll('polled', 10, 5, 1, 50, '{"k": "x"}');

-- ---- metrics ----
SELECT queue_name, queue_length, queue_visible_length, total_messages,
	   newest_msg_age_sec >= 0 AS newest, oldest_msg_age_sec >= 0 AS oldest, scrape_time IS NOT NULL AS scraped
FROM pgmq.metrics('orders');
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics_all();
SELECT * FROM pgmq.metrics('nope');

-- ---- purge, detach_archive, drop ----
SELECT pgmq.purge_queue('polled');
SELECT count(*) FROM pgmq.q_polled;
SELECT pgmq.detach_archive('orders');
SELECT pgmq.drop_queue('fast');
SELECT pgmq.drop_queue('fast');
SELECT pgmq.drop_queue('timed', true);
SELECT count(*) FROM mq.queues WHERE queue_name IN ('fast', 'timed');
SELECT to_regclass('pgmq.q_fast') IS NULL AS view_gone;

-- ---- pgmq's tables as native-mode clients use them ----
SELECT pgmq.create('native');
INSERT INTO pgmq.q_native (vt, message, headers) VALUES (now(), '{"i": 1}', '{"h": 1}') RETURNING msg_id, read_ct, message;
INSERT INTO pgmq.q_native (message) VALUES ('{"i": 2}') RETURNING msg_id;
INSERT INTO pgmq.q_native (vt, message) VALUES (now() + interval '1 hour', '{"i": 3}') RETURNING msg_id;
-- the header x-pgmq-group is the row's mq group_key, as for a send
INSERT INTO pgmq.q_native (message, headers) VALUES ('{"i": 4}', '{"x-pgmq-group": "g4"}') RETURNING msg_id, headers;
SELECT format('mq.q_%s', pgmq._queue_id('native')) AS native_table \gset
SELECT msg_id, group_key FROM :native_table WHERE group_key IS NOT NULL;
DELETE FROM pgmq.q_native WHERE headers ? 'x-pgmq-group';
INSERT INTO pgmq.q_native (message, last_read_at) VALUES ('{}', now());
-- mq reads what was inserted by hand
SELECT msg_id, body, headers FROM mq.read('native', 10);
UPDATE pgmq.q_native SET vt = now() - interval '1 second' WHERE msg_id = 3;
SELECT msg_id, message FROM pgmq.read('native', 10, 10);
DELETE FROM pgmq.q_native WHERE msg_id = 1;
SELECT msg_id FROM pgmq.q_native ORDER BY 1;
INSERT INTO pgmq.a_native (msg_id, vt, message, headers) VALUES (42, now(), '{"old": true}', NULL);
SELECT msg_id, read_ct, message, archived_at IS NOT NULL AS stamped FROM pgmq.a_native;
-- last_read_at is not kept by mq: it cannot be written
UPDATE pgmq.q_native SET last_read_at = now();

-- ---- grouped reads: the header x-pgmq-group ----
SELECT pgmq.create('grouped');
SELECT * FROM pgmq.send_batch('grouped',
	ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}', '{"n": 6}']::jsonb[],
	ARRAY['{"x-pgmq-group": "A"}', '{"x-pgmq-group": "A"}', '{"x-pgmq-group": "B"}',
		  '{"x-pgmq-group": "A"}', '{"x-pgmq-group": "B"}', '{}']::jsonb[]);
BEGIN;
-- fill from the group with the oldest message first (SQS FIFO)
SELECT msg_id, headers->>'x-pgmq-group' AS g FROM pgmq.read_grouped('grouped', 30, 4);
ROLLBACK;
BEGIN;
-- round robin: the first of every group, then the second ...
SELECT msg_id, headers->>'x-pgmq-group' AS g FROM pgmq.read_grouped_rr('grouped', 30, 5);
ROLLBACK;
BEGIN;
-- one a group
SELECT msg_id, headers->>'x-pgmq-group' AS g FROM pgmq.read_grouped_head('grouped', 30, 10);
ROLLBACK;
-- a leased message holds back the rest of its group
SELECT msg_id FROM pgmq.read_grouped('grouped', 30, 1);
SELECT msg_id FROM pgmq.read_grouped('grouped', 30, 10);
SELECT msg_id FROM pgmq.read_grouped_rr('grouped', 30, 10);
SELECT pgmq.delete('grouped', 1);
SELECT msg_id FROM pgmq.read_grouped_head_with_poll('grouped', 30, 10, 1, 50);
SELECT pgmq.delete('grouped', 2);
SELECT msg_id FROM pgmq.read_grouped_with_poll('grouped', 30, 10, 1, 50);
SELECT msg_id FROM pgmq.read_grouped_rr_with_poll('grouped', 30, 10, 1, 50);
SELECT pgmq.create_fifo_index('grouped'), pgmq.create_fifo_indexes_all();
-- the group header is mq's group key: the same queue as an mq FIFO queue
SELECT mq.alter_queue('grouped', fifo => true);
SELECT * FROM pgmq.send('grouped', '{"n": 7}', '{"x-pgmq-group": "C"}'::jsonb);
SELECT format('mq.q_%s', pgmq._queue_id('grouped')) AS grouped_table \gset
SELECT group_key FROM :grouped_table WHERE msg_id = 7;

-- ---- topics: pgmq's patterns ('*' one word, '#' anything) ----
SELECT pgmq.create('t_a'), pgmq.create('t_b');
SELECT pgmq.bind_topic('logs.*', 't_a');
SELECT pgmq.bind_topic('logs.*', 't_a');		-- again: a no-op
SELECT pgmq.bind_topic('logs.#', 't_b');
SELECT pgmq.bind_topic('#.error', 't_a');
SELECT pgmq.bind_topic('app.*.#', 't_b');
SELECT pattern, queue_name, compiled_regex FROM pgmq.list_topic_bindings() ORDER BY pattern;
SELECT pattern, queue_name FROM pgmq.list_topic_bindings('t_a') ORDER BY pattern;
SELECT * FROM pgmq.test_routing('logs.error');
SELECT * FROM pgmq.test_routing('logs.api.error');
SELECT * FROM pgmq.test_routing('logs');
SELECT * FROM pgmq.test_routing('app.x');
SELECT * FROM pgmq.test_routing('app.x.y');
SELECT * FROM pgmq.test_routing('xlogs.error');
SELECT * FROM pgmq.test_routing('logsxerror');	-- a dot is a dot
SELECT pgmq.send_topic('logs.error', '{"t": 1}');
SELECT pgmq.send_topic('logs.api.error', '{"t": 2}', 0);
SELECT pgmq.send_topic('logs.info', '{"t": 3}', '{"h": 1}'::jsonb, 0);
SELECT pgmq.send_topic('nobody.listens', '{"t": 4}');
SELECT * FROM pgmq.send_batch_topic('logs.info', ARRAY['{"u": 1}', '{"u": 2}']::jsonb[]);
SELECT * FROM pgmq.send_batch_topic('logs.info', ARRAY['{"u": 3}']::jsonb[], ARRAY['{"h": 2}']::jsonb[]);
SELECT * FROM pgmq.send_batch_topic('logs.info', ARRAY['{"u": 4}']::jsonb[], 0);
SELECT * FROM pgmq.send_batch_topic('logs.info', ARRAY['{"u": 5}']::jsonb[], now());
SELECT * FROM pgmq.send_batch_topic('logs.info', ARRAY['{"u": 6}']::jsonb[], ARRAY['{}']::jsonb[], 0);
SELECT * FROM pgmq.send_batch_topic('logs.info', ARRAY['{"u": 7}']::jsonb[], ARRAY['{}']::jsonb[], now());
SELECT msg_id, message, headers FROM pgmq.q_t_a ORDER BY msg_id;
SELECT msg_id, message FROM pgmq.q_t_b ORDER BY msg_id;
SELECT pgmq.unbind_topic('logs.*', 't_a'), pgmq.unbind_topic('logs.*', 't_a');
-- pgmq's errors for topics
SELECT pgmq.bind_topic('logs.*', 'nope');
SELECT pgmq.bind_topic('logs.*', '');
SELECT pgmq.bind_topic('', 't_a');
SELECT pgmq.bind_topic(repeat('a', 256), 't_a');
SELECT pgmq.bind_topic('logs.!', 't_a');
SELECT pgmq.bind_topic('.logs', 't_a');
SELECT pgmq.bind_topic('logs.', 't_a');
SELECT pgmq.bind_topic('logs..x', 't_a');
SELECT pgmq.bind_topic('logs.**', 't_a');
SELECT pgmq.bind_topic('logs.##', 't_a');
SELECT pgmq.bind_topic('logs.*#', 't_a');
SELECT pgmq.unbind_topic(NULL, 't_a');
SELECT pgmq.unbind_topic('x', '');
SELECT * FROM pgmq.test_routing('');
SELECT * FROM pgmq.test_routing(repeat('a', 256));
SELECT * FROM pgmq.test_routing('logs.*');
SELECT * FROM pgmq.test_routing('.logs');
SELECT * FROM pgmq.test_routing('logs.');
SELECT * FROM pgmq.test_routing('logs..x');
SELECT pgmq.send_topic('logs.x', NULL);
SELECT pgmq.send_topic('logs.x', '{}', -1);
SELECT * FROM pgmq.send_batch_topic('logs.x', ARRAY[]::jsonb[]);
SELECT pgmq.validate_routing_key('a.b-c_d'), pgmq.validate_topic_pattern('a.*.#');
-- dropping a queue drops its bindings
SELECT pgmq.drop_queue('t_b');
SELECT pattern, queue_name FROM pgmq.list_topic_bindings();

-- ---- notifications on insert: pgmq's channel ----
SELECT pgmq.enable_notify_insert('t_a', 0);
-- (the channel, "pgmq.q_t_a.INSERT", is seen by the pgmq-js test: psql prints
-- a notification with the sender's PID)
SELECT tgname, tgrelid = format('mq.q_%s', pgmq._queue_id('t_a'))::regclass AS on_mq_table
FROM pg_trigger WHERE tgfoid = 'pgmq.notify_queue_listeners'::regproc;
SELECT * FROM pgmq.send('t_a', '{}');
SELECT queue_name, throttle_interval_ms, last_notified_at > to_timestamp(0) AS notified
FROM pgmq.list_notify_insert_throttles();
UPDATE pgmq.notify_insert_throttle SET last_notified_at = to_timestamp(0);
INSERT INTO pgmq.q_t_a (message) VALUES ('{}') RETURNING msg_id;
SELECT queue_name, last_notified_at > to_timestamp(0) AS notified FROM pgmq.list_notify_insert_throttles();
SELECT pgmq.update_notify_insert('t_a', 1000);
SELECT queue_name, throttle_interval_ms FROM pgmq.list_notify_insert_throttles();
SELECT pgmq.disable_notify_insert('t_a');
SELECT count(*) FROM pgmq.list_notify_insert_throttles();
SELECT * FROM pgmq.send('t_a', '{}');
SELECT count(*) FROM pg_trigger WHERE tgfoid = 'pgmq.notify_queue_listeners'::regproc;
-- pgmq's errors
SELECT pgmq.enable_notify_insert('t_a', -1);
SELECT pgmq.enable_notify_insert('nope');
SELECT pgmq.update_notify_insert('t_a', -1);
SELECT pgmq.update_notify_insert('nope', 10);
SELECT pgmq.update_notify_insert('t_a', 10);

-- ---- named arguments, as pgmq's Python client calls ----
SELECT pgmq.create(queue_name => 'named');
SELECT pgmq.create_partitioned(queue_name => 'named_p', partition_interval => '10000', retention_interval => '100000');
SELECT pgmq.create_unlogged(queue_name => 'named_u');
SELECT * FROM pgmq.send(queue_name => 'named'::text, msg => '{"k": 1}'::jsonb, delay => 0::integer);
SELECT * FROM pgmq.send(queue_name => 'named'::text, msg => '{"k": 2}'::jsonb, headers => '{"h": 1}'::jsonb, delay => 0::integer);
SELECT * FROM pgmq.send(queue_name => 'named'::text, msg => '{"k": 3}'::jsonb, headers => '{"h": 2}'::jsonb);
SELECT * FROM pgmq.send(queue_name => 'named'::text, msg => '{"k": 4}'::jsonb, delay => now());
SELECT * FROM pgmq.send_batch(queue_name => 'named'::text, msgs => ARRAY['{"k": 5}', '{"k": 6}']::jsonb[], delay => 0::integer);
SELECT * FROM pgmq.send_batch(queue_name => 'named'::text, msgs => ARRAY['{"k": 7}']::jsonb[], headers => ARRAY['{"h": 3}']::jsonb[]);
SELECT msg_id, message FROM pgmq.read(queue_name => 'named'::text, vt => 30::integer, qty => 2::integer, conditional => '{}'::jsonb);
SELECT msg_id, message FROM pgmq.read(queue_name => 'named', vt => 30, qty => 1);
SELECT msg_id, message FROM pgmq.read_with_poll(queue_name => 'named'::text, vt => 30::integer, qty => 1::integer,
	max_poll_seconds => 1::integer, poll_interval_ms => 100::integer, conditional => '{"k": 4}'::jsonb);
SELECT msg_id, message FROM pgmq.pop(queue_name => 'named'::text);
SELECT msg_id, message FROM pgmq.pop(queue_name => 'named'::text, qty => 1::integer);
SELECT pgmq.delete(queue_name => 'named'::text, msg_id => 1::bigint);
SELECT * FROM pgmq.delete(queue_name => 'named'::text, msg_ids => ARRAY[2]::bigint[]);
SELECT pgmq.archive(queue_name => 'named'::text, msg_id => 3::bigint);
SELECT * FROM pgmq.archive(queue_name => 'named'::text, msg_ids => ARRAY[4]::bigint[]);
SELECT msg_id FROM pgmq.set_vt(queue_name => 'named'::text, msg_id => 7::bigint, vt => 0::integer);
SELECT msg_id FROM pgmq.set_vt(queue_name => 'named'::text, msg_ids => ARRAY[7]::bigint[], vt => now());
SELECT msg_id FROM pgmq.read_grouped(queue_name => 'named', vt => 30, qty => 1);
SELECT queue_name, queue_length FROM pgmq.metrics(queue_name => 'named'::text);
SELECT pgmq.purge_queue(queue_name => 'named'::text);
SELECT pgmq.bind_topic(pattern => 'n.*', queue_name => 'named');
SELECT pgmq.send_topic(routing_key => 'n.x', msg => '{}'::jsonb, headers => NULL::jsonb, delay => 0);
SELECT * FROM pgmq.send_batch_topic(routing_key => 'n.x', msgs => ARRAY['{}']::jsonb[], headers => NULL::jsonb[], delay => 0);
SELECT pgmq.unbind_topic(pattern => 'n.*', queue_name => 'named');
SELECT pgmq.enable_notify_insert(queue_name => 'named', throttle_interval_ms => 250);
SELECT pgmq.update_notify_insert(queue_name => 'named', throttle_interval_ms => 0);
SELECT pgmq.disable_notify_insert(queue_name => 'named');
SELECT pgmq.drop_queue(queue_name => 'named'::text);

-- ---- mq's options on the reads that lease in SQL (conditional, grouped) ----
SELECT pgmq.create('opts');
SELECT pgmq.create('opts_dlq');
SELECT mq.alter_queue('opts', max_receives => 1, dead_letter_queue => 'opts_dlq');
SELECT * FROM pgmq.send('opts', '{"k": 1}');
SELECT msg_id, read_ct FROM pgmq.read('opts', 0, 10, '{"k": 1}');
-- received max_receives times: dead-lettered, never read again
SELECT msg_id, read_ct FROM pgmq.read('opts', 0, 10, '{"k": 1}');
SELECT msg_id, read_ct FROM pgmq.read_grouped('opts', 0, 10);
SELECT msg_id, message FROM pgmq.q_opts_dlq;
SELECT * FROM pgmq.send('opts', '{"k": 2}', '{"x-pgmq-group": "g"}'::jsonb);
SELECT msg_id, read_ct FROM pgmq.read_grouped('opts', 0, 10);
SELECT msg_id, read_ct FROM pgmq.read_grouped_rr('opts', 0, 10);
SELECT msg_id, read_ct FROM pgmq.read('opts', 0, 10, '{"k": 2}');
SELECT msg_id, message FROM pgmq.q_opts_dlq ORDER BY msg_id;
-- a message's own ttl (on a queue without options): not read once it has passed
SELECT pgmq.create('ttl');
SELECT mq.send('ttl', '{"k": 3}', headers => '{"x-pgmq-group": "t"}', ttl => '1 millisecond') > 0 AS sent;
SELECT pg_sleep(0.05);
SELECT msg_id FROM pgmq.read('ttl', 30, 10, '{"k": 3}');
SELECT msg_id FROM pgmq.read_grouped('ttl', 30, 10);
SELECT msg_id FROM pgmq.read_grouped_head('ttl', 30, 10);
SELECT pgmq.drop_queue('ttl');
-- the queue's message_ttl too
SELECT mq.alter_queue('opts', message_ttl => '1 millisecond');
SELECT * FROM pgmq.send('opts', '{"k": 4}');
SELECT pg_sleep(0.05);
SELECT msg_id FROM pgmq.read('opts', 30, 10, '{"k": 4}');
SELECT msg_id FROM pgmq.read_grouped('opts', 30, 10);
SELECT pgmq.drop_queue('opts');
SELECT pgmq.drop_queue('opts_dlq');

-- ---- grouped reads take at most mq.max_batch_size messages (and lock as many groups) ----
SELECT pgmq.create('many');
SELECT count(*) FROM pgmq.send_batch('many', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 5)),
	ARRAY(SELECT jsonb_build_object('x-pgmq-group', 'g' || i) FROM generate_series(1, 5) i));
SET mq.max_batch_size = 2;
SELECT msg_id FROM pgmq.read_grouped_head('many', 30, 100000);
SELECT msg_id FROM pgmq.read_grouped('many', 30, 100000);
SELECT msg_id FROM pgmq.read_grouped_rr('many', 30, 100000);
RESET mq.max_batch_size;
SELECT pgmq.drop_queue('many');

-- ---- search_path: mq sends as the extension's owner, so the NOTIFY trigger
-- runs as a superuser; a sender's search_path must not choose what it calls ----
CREATE ROLE regress_pgmq_eve LOGIN;
SELECT pgmq.create('jobs');
SELECT pgmq.enable_notify_insert('jobs', 0);
SELECT mq.grant('jobs', 'regress_pgmq_eve', 'send');
CREATE SCHEMA regress_evil AUTHORIZATION regress_pgmq_eve;
SET ROLE regress_pgmq_eve;
CREATE FUNCTION regress_evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		ALTER ROLE regress_pgmq_eve SUPERUSER;
	END IF;
	RETURN pg_catalog.now();
END $$;
CREATE FUNCTION regress_evil.lower(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		ALTER ROLE regress_pgmq_eve SUPERUSER;
	END IF;
	RETURN pg_catalog.lower($1);
END $$;
SET search_path = regress_evil, pg_catalog;
SELECT pgmq.send('jobs', '{}') > 0 AS sent;
SELECT pgmq.send('jobs', '{}', '{"x-pgmq-group": "g"}', 0) > 0 AS sent;
SELECT count(*) FROM pgmq.send_batch('jobs', ARRAY['{}'::jsonb]);
RESET search_path;
RESET ROLE;
SELECT rolsuper AS eve_is_superuser FROM pg_roles WHERE rolname = 'regress_pgmq_eve';
-- every function of the extension has a fixed search_path, but send, read, delete and archive (inlined)
SELECT p.oid::regprocedure AS without_search_path
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgmq')
  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
ORDER BY p.oid::regprocedure::text;
SELECT pgmq.drop_queue('jobs');
DROP SCHEMA regress_evil CASCADE;
DROP ROLE regress_pgmq_eve;

-- ---- a role that is not a superuser ----
CREATE ROLE regress_pgmq_user;
SET ROLE regress_pgmq_user;
SELECT queue_name FROM pgmq.list_queues() LIMIT 1;
-- sends and reads are mq's, under mq's privileges
SELECT * FROM pgmq.send('orders', '{}');
-- a queue's last msg_id: under mq's privileges too
SELECT pgmq._last_msg_id(pgmq._queue_id('orders'));
SELECT pgmq._total_messages('orders');
SELECT * FROM pgmq.metrics('orders');
RESET ROLE;
SELECT mq.grant('orders', 'regress_pgmq_user', 'read');
SET ROLE regress_pgmq_user;
SELECT queue_name, total_messages > 0 AS counted FROM pgmq.metrics('orders');
RESET ROLE;
SELECT mq.revoke('orders', 'regress_pgmq_user', 'read');
DROP ROLE regress_pgmq_user;

-- DROP EXTENSION pgmq CASCADE leaves mq's queues, and the views (plain views of them)
DROP EXTENSION pgmq;
SET client_min_messages = warning;
DROP EXTENSION pgmq CASCADE;
RESET client_min_messages;
SELECT count(*) AS queues_kept FROM mq.queues;
SELECT count(*) AS views_left FROM pg_class WHERE relname LIKE 'q\_%' AND relnamespace::regnamespace::text = 'pgmq';
\c :regress_db
DROP DATABASE regress_pgmq WITH (FORCE);
