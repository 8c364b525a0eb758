-- Direct reads start at a shared hint of where the live messages begin
-- (src/queue_hint.c).  Every way a message can land before that point must move
-- the hint back, or the message would be passed over.  Each case below
-- first moves the hint forward by reading and acking, then puts a message
-- before it and reads at once.  The hint is trusted for an hour here (not
-- 60 s), so that a missed move shows as a wrong answer on any machine.
\set SHOW_CONTEXT never
SET mq.scan_hint_max_age = '1h';

SELECT mq.create_queue('h');
SELECT count(*) FROM mq.send_batch('h', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[]);
-- read and ack two: the hint moves to the third
SELECT mq.ack('h', msg_id) FROM mq.read('h', 2);
-- a higher priority sorts before the hint: the send moves it back
SELECT mq.send('h', '{"n": "urgent"}', priority => 5) IS NOT NULL AS sent;
SELECT body FROM mq.read('h', 1);
-- the same for a batch, and for pop
SELECT count(*) FROM mq.send_batch('h', ARRAY['{"n": "b1"}', '{"n": "b2"}']::jsonb[], priority => 7);
SELECT body FROM mq.pop('h', 1);
SELECT body FROM mq.pop('h', 1);
-- a nacked message comes back where it was, before later ones
SELECT msg_id AS n3 FROM mq.read('h', 1) \gset
SELECT body FROM mq.read('h', 1);
SELECT mq.nack('h', :n3);
SELECT body FROM mq.read('h', 1);
-- an expired lease comes back too
SELECT mq.purge_queue('h');
SELECT count(*) FROM mq.send_batch('h', ARRAY['{"n": 5}', '{"n": 6}', '{"n": 7}']::jsonb[]);
SELECT body FROM mq.read('h', 1, '50 milliseconds');
SELECT mq.ack('h', msg_id) FROM mq.read('h', 1);
SELECT pg_sleep(0.1);
SELECT body FROM mq.read('h', 2);

-- a message sent in an open transaction is not passed over once committed
SELECT mq.purge_queue('h');
SELECT count(*) FROM mq.send_batch('h', ARRAY['{"n": 8}', '{"n": 9}']::jsonb[]);
-- ... and rows acked by a transaction that rolls back come back
BEGIN;
SELECT mq.send('h', '{"n": "in the transaction"}', priority => 3) IS NOT NULL AS sent;
SELECT body, mq.ack('h', msg_id) FROM mq.read('h', 1);
SELECT body, mq.ack('h', msg_id) FROM mq.read('h', 1);
SELECT body FROM mq.read('h', 1);
ROLLBACK;
SELECT body FROM mq.read('h', 2);

-- dead letters moved by a read land before the dead-letter queue's hint
SELECT mq.create_queue('h_dlq');
SELECT mq.create_queue('h_src', max_receives => 1, dead_letter_queue => 'h_dlq');
SELECT mq.send('h_dlq', '{"n": "old"}') IS NOT NULL AS sent;
SELECT mq.ack('h_dlq', msg_id) FROM mq.read('h_dlq', 1);
SELECT count(*) FROM mq.read('h_dlq', 1);
SELECT mq.send('h_src', '{"n": "poison"}', priority => 9) IS NOT NULL AS sent;
SELECT count(*) FROM mq.read('h_src', 1, '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT count(*) FROM mq.read('h_src', 1);
SELECT body, mq.ack('h_dlq', msg_id) FROM mq.read('h_dlq', 1);

-- ... and so do those moved by mq.maintain()
SELECT count(*) FROM mq.read('h_dlq', 1);
SELECT mq.send('h_src', '{"n": "poison 2"}', priority => 10) IS NOT NULL AS sent;
SELECT count(*) FROM mq.read('h_src', 1, '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT count(*) >= 0 AS ran FROM mq.maintain();  -- unless the worker got there first
SELECT body FROM mq.read('h_dlq', 1);

-- messages that mq.redrive() moves in land before the target's hint
SELECT mq.purge_queue('h');
SELECT mq.purge_queue('h_dlq');
SELECT count(*) FROM mq.send_batch('h', ARRAY['{"n": 12}', '{"n": 13}']::jsonb[]);
SELECT mq.ack('h', msg_id) FROM mq.read('h', 1);
SELECT body FROM mq.read('h', 1);
SELECT mq.send('h_dlq', '{"n": "redriven"}', priority => 6) IS NOT NULL AS sent;
SELECT mq.redrive('h_dlq', 'h');
SELECT body FROM mq.read('h', 1);

-- sends through an exchange move the hint too
SELECT mq.purge_queue('h');
SELECT count(*) FROM mq.send_batch('h', ARRAY['{"n": 10}', '{"n": 11}']::jsonb[]);
SELECT mq.ack('h', msg_id) FROM mq.read('h', 1);
SELECT mq.create_exchange('h_x', 'fanout');
SELECT mq.bind('h_x', 'h');
SELECT mq.publish('h_x', '', '{"n": "published"}', priority => 4) IS NOT NULL AS published;
SELECT body FROM mq.read('h', 1);
SELECT body FROM mq.read('h', 1);

-- rows that somebody else writes: an INSERT by hand, an UPDATE of a
-- priority (a statement trigger on the table resets the hint)
SELECT mq.purge_queue('h');
SELECT count(*) FROM mq.send_batch('h', ARRAY['{"n": 14}', '{"n": 15}', '{"n": 16}']::jsonb[]);
SELECT mq.ack('h', msg_id) FROM mq.read('h', 1);
SELECT body FROM mq.read('h', 1);
SELECT 'mq.q_' || mq._queue_id('h') AS h_table \gset
INSERT INTO :h_table (enqueued_at, vt, priority, body)
	VALUES (clock_timestamp(), clock_timestamp(), 8, '{"n": "by hand"}');
SELECT body FROM mq.read('h', 1);
SELECT mq.ack('h', msg_id) FROM mq.read('h', 1);
UPDATE :h_table SET priority = 9, vt = clock_timestamp() WHERE body->>'n' = '15';
SELECT body FROM mq.read('h', 1);

-- the trigger function is for mq's message tables only
SELECT mq._table_changed();
CREATE TABLE q_1 (n int);
CREATE TRIGGER t AFTER INSERT ON q_1 FOR EACH STATEMENT EXECUTE FUNCTION mq._table_changed();
INSERT INTO q_1 VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE q_1;

SELECT mq.drop_exchange('h_x', cascade => true);
SELECT mq.drop_queue('h_src');
SELECT mq.drop_queue('h_dlq');
SELECT mq.drop_queue('h');
