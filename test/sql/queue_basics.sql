-- Queue management: create, redeclare, alter, drop, purge, the queues view.
\set SHOW_CONTEXT never

SELECT mq.create_queue('orders');
-- declaring again with the same options is a no-op
SELECT mq.create_queue('orders');
SELECT mq.create_queue('orders', visibility_timeout => '30 seconds');
-- with different options it is an error that names them
SELECT mq.create_queue('orders', visibility_timeout => '10 s', fifo => true);
SELECT mq.create_queue('orders', archive => true);

-- names are case-sensitive and may use . - _
SELECT mq.create_queue('Orders');
SELECT mq.create_queue('billing.v2-eu_1', visibility_timeout => '1 minute',
					   max_receives => 5, dead_letter_queue => 'orders',
					   message_ttl => '1 day', max_length => 1000,
					   overflow => 'drop_head', fifo => true,
					   dedup_window => '1 hour', archive => true,
					   retention => '7 days', unlogged => true, notify => true);
SELECT mq.create_queue(repeat('x', 48));

SELECT queue_name, visibility_timeout, max_receives, dead_letter_queue,
	   message_ttl, max_length, overflow, fifo, dedup_window, archive,
	   retention, unlogged, notify, created_at <= now() AS created
FROM mq.queues ORDER BY queue_name COLLATE "C";

-- the storage is internal, named from the id, and unlogged when asked
SELECT q.queue_name, left(c.relname, 1) AS kind, c.relpersistence
FROM mq._queue q JOIN pg_class c
	ON c.relname IN ('q_' || q.queue_id, 'a_' || q.queue_id, 'd_' || q.queue_id)
	AND c.relnamespace = 'mq'::regnamespace
ORDER BY q.queue_name COLLATE "C", 2;

-- alter: NULL keeps a value, 0 / '' clears an optional one
SELECT mq.alter_queue('billing.v2-eu_1', visibility_timeout => '2 minutes',
					  max_receives => 0, dead_letter_queue => '',
					  unlogged => false);
SELECT queue_name, visibility_timeout, max_receives, dead_letter_queue,
	   message_ttl, unlogged, archive
FROM mq.queues WHERE queue_name = 'billing.v2-eu_1';
SELECT q.queue_name, left(c.relname, 1) AS kind, c.relpersistence
FROM mq._queue q JOIN pg_class c
	ON c.relname IN ('q_' || q.queue_id, 'a_' || q.queue_id, 'd_' || q.queue_id)
	AND c.relnamespace = 'mq'::regnamespace
ORDER BY q.queue_name COLLATE "C", 2;
SELECT mq.alter_queue('orders', message_ttl => '1 hour', archive => true);
SELECT visibility_timeout, message_ttl, archive FROM mq.queues WHERE queue_name = 'orders';
-- messages survive an alter, and an alter takes effect at once
SELECT mq.send('orders', '{"n": 1}') AS first_id \gset
SELECT mq.alter_queue('orders', visibility_timeout => '1 hour');
SELECT msg_id = :first_id AS same, vt > now() + interval '59 minutes' AS hour_lease
FROM mq.read('orders');

-- purge empties the queue and says how many it removed
SELECT mq.send('orders', '{"n": 2}') > 0 AS sent;
SELECT mq.purge_queue('orders');
SELECT mq.purge_queue('orders');
SELECT queue_length FROM mq.metrics('orders');

-- drop
SELECT mq.drop_queue('Orders');
SELECT mq.drop_queue('Orders');
SELECT mq.drop_queue('Orders', if_exists => true);
SELECT mq.drop_queue(repeat('x', 48));
-- dropping a dead-letter queue clears the setting of the queues using it
SELECT mq.alter_queue('billing.v2-eu_1', dead_letter_queue => 'orders');
SELECT mq.drop_queue('orders');
SELECT queue_name, dead_letter_queue FROM mq.queues WHERE queue_name = 'billing.v2-eu_1';
SELECT mq.drop_queue('billing.v2-eu_1');
SELECT count(*) FROM mq.queues;
-- their tables are gone too
SELECT count(*) FROM pg_class c
WHERE c.relnamespace = 'mq'::regnamespace AND c.relname ~ '^[qad]_';

-- a queue created and dropped in a rolled-back transaction leaves nothing
BEGIN;
SELECT mq.create_queue('temp');
SELECT mq.send('temp', '{}') > 0 AS sent;
ROLLBACK;
SELECT mq.send('temp', '{}');
SELECT mq.create_queue('temp');
BEGIN;
SELECT mq.drop_queue('temp');
ROLLBACK;
SELECT mq.send('temp', '{}') > 0 AS sent_after_rollback_of_drop;
-- a dropped and re-created queue is a new, empty queue (caches follow)
SELECT mq.drop_queue('temp');
SELECT mq.create_queue('temp');
SELECT queue_length FROM mq.metrics('temp');
SELECT mq.drop_queue('temp');

-- the catalog and the message tables are dumped by pg_dump
SELECT c.relname, e.extconfig IS NOT NULL AS config
FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
WHERE e.extname = 'mq' ORDER BY 1;
