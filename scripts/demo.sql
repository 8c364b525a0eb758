-- A two-minute tour of mq.  Run by scripts/demo.sh.
\pset footer off
\set ECHO queries
CREATE EXTENSION IF NOT EXISTS mq;
\set ECHO none
\echo
\echo '-- 1. A queue whose messages are leased for 30 seconds by default.'
\set ECHO queries
SELECT mq.create_queue('orders', visibility_timeout => '30 seconds');
\set ECHO none
\echo '-- 2. Producers send JSON messages, with optional headers, delay and priority.'
\set ECHO queries
SELECT mq.send('orders', '{"order": 1001, "item": "book"}') AS book;
SELECT mq.send('orders', '{"order": 1002, "item": "lamp"}',
			   headers => '{"customer": "acme"}') AS lamp;
SELECT mq.send('orders', '{"order": 1003, "item": "rush"}', priority => 10) AS rush;
\set ECHO none
\echo '-- 3. A consumer reads two: higher priority first, then oldest first.'
\echo '--    Each message is now leased to it: invisible to others until vt.'
\set ECHO queries
SELECT msg_id, read_ct, body FROM mq.read('orders', qty => 2);
\set ECHO none
\echo '-- 4. It processed them, so it acks them: they are gone.'
\set ECHO queries
SELECT mq.ack_batch('orders', ARRAY[1, 3]::bigint[]) AS acked;
\set ECHO none
\echo '-- 5. A second consumer takes the last message with a 1-second lease,'
\echo '--    and crashes before it acks.  Meanwhile nobody else can see it:'
\set ECHO queries
SELECT msg_id, read_ct, body, headers FROM mq.read('orders', visibility_timeout => '1 second');
SELECT msg_id, read_ct, body FROM mq.read('orders');
\set ECHO none
\echo '-- 6. When the lease runs out the message comes back, read_ct raised: a redelivery.'
\set ECHO queries
SELECT pg_sleep(1.5);
SELECT msg_id, read_ct, body FROM mq.read('orders');
\set ECHO none
\echo '-- 7. The queue at a glance: one message, in flight.'
\set ECHO queries
SELECT queue_name, queue_length, visible, in_flight, delayed, archive_length
FROM mq.metrics('orders');
SELECT mq.ack('orders', 2) AS acked;
\set ECHO none
\echo '-- 8. Exchanges route by key: a topic exchange and two bindings.'
\set ECHO queries
SELECT mq.create_exchange('events', 'topic');
SELECT mq.create_queue('eu_orders'), mq.create_queue('audit');
SELECT mq.bind('events', 'eu_orders', 'orders.eu.*'), mq.bind('events', 'audit', '#');
SELECT mq.publish('events', 'orders.eu.created', '{"id": 7}') AS queues_reached;
SELECT mq.publish('events', 'users.signup', '{"id": 8}') AS queues_reached;
SELECT queue_name, queue_length FROM mq.metrics_all();
\set ECHO none
\echo '-- 9. A blocking read sleeps until a commit wakes it (another session sends in 1 second).'
\! (sleep 1; psql -X -q -d postgres -c "SELECT mq.send('orders', '{\"late\": true}')" >/dev/null) &
\set ECHO queries
SELECT body, round(extract(epoch FROM clock_timestamp() - statement_timestamp())::numeric, 1) AS waited_seconds
FROM mq.read('orders', 1, wait => '10 seconds');
\set ECHO none
\echo '-- Clean up.'
\set ECHO queries
SELECT mq.drop_exchange('events', cascade => true);
SELECT mq.drop_queue(q) FROM unnest(ARRAY['orders', 'eu_orders', 'audit']) q;
