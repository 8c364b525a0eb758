-- Delivery guarantees: dead letters, redrive, idempotent send, FIFO groups,
-- TTL, max length.
\set SHOW_CONTEXT never

-- max_receives + dead_letter_queue -----------------------------------------
SELECT mq.create_queue('dlq');
SELECT mq.create_queue('work', max_receives => 2, dead_letter_queue => 'dlq');
SELECT mq.send('work', '{"job": 1}', headers => '{"trace": "t1"}') AS job \gset
-- two deliveries, each lease running out
SELECT read_ct FROM mq.read('work', 1, '10 milliseconds');
SELECT pg_sleep(0.1);
SELECT read_ct FROM mq.read('work', 1, '10 milliseconds');
SELECT pg_sleep(0.1);
-- the third read finds it past max_receives: it moves to the DLQ instead
SELECT count(*) FROM mq.read('work', 1, '10 milliseconds');
SELECT queue_length, dead_lettered FROM mq.metrics('work');
-- in the DLQ it is a new message whose headers say why and from where
SELECT read_ct, body, headers->'trace' AS trace,
	   headers->'x-death'->0->>'reason' AS reason,
	   headers->'x-death'->0->>'queue' AS queue,
	   headers->'x-death'->0->>'count' AS count,
	   headers->'x-death'->0->>'msg_id' = :'job' AS same_msg,
	   (headers->'x-death'->0->>'first_enqueued_at')::timestamptz <= now() AS first_enqueued
FROM mq.read('dlq', 10, '10 milliseconds');
SELECT pg_sleep(0.1);
-- a nacked message past max_receives is dead-lettered at the next read
SELECT mq.send('work', '{"job": 2}') AS job2 \gset
SELECT read_ct FROM mq.read('work');
SELECT mq.nack('work', :job2);
SELECT read_ct FROM mq.read('work');
SELECT mq.nack('work', :job2);
SELECT count(*) FROM mq.read('work');
SELECT queue_length, dead_lettered FROM mq.metrics('work');
SELECT queue_length FROM mq.metrics('dlq');
-- a read of several skips dead letters and still fills up
SELECT mq.send('work', '{"job": 3}') AS job3 \gset
SELECT mq.send('work', '{"job": 4}') IS NOT NULL AS sent;
SELECT read_ct FROM mq.read('work', 1, '10 milliseconds');
SELECT pg_sleep(0.1);
SELECT read_ct FROM mq.read('work', 1, '10 milliseconds');
SELECT pg_sleep(0.1);
SELECT read_ct, body FROM mq.read('work', 1);
SELECT queue_length, dead_lettered FROM mq.metrics('work');
SELECT mq.purge_queue('work');

-- without a dead-letter queue, dead letters go to the archive with a reason
SELECT mq.create_queue('nodlq', max_receives => 1);
SELECT mq.send('nodlq', '{"n": 1}') IS NOT NULL AS sent;
SELECT read_ct FROM mq.read('nodlq', 1, '10 milliseconds');
SELECT pg_sleep(0.1);
SELECT count(*) FROM mq.read('nodlq');
SELECT queue_length, archive_length, dead_lettered FROM mq.metrics('nodlq');

-- maintain() dead-letters expired leases even if nobody reads
SELECT mq.send('nodlq', '{"n": 2}') IS NOT NULL AS sent;
SELECT read_ct FROM mq.read('nodlq', 1, '10 milliseconds');
SELECT pg_sleep(0.1);
SELECT queue_name, dead_lettered, expired FROM mq.maintain() WHERE queue_name = 'nodlq';
SELECT queue_length, archive_length, dead_lettered FROM mq.metrics('nodlq');

-- redrive moves dead letters back, oldest first, as new messages
SELECT mq.redrive('dlq', 'work', 1);
SELECT mq.redrive('dlq', 'work');
SELECT mq.redrive('dlq', 'work');
SELECT read_ct, body, jsonb_array_length(headers->'x-death') AS deaths
FROM mq.read('work', 10);
SELECT mq.purge_queue('work');

-- bad dead-letter settings
SELECT mq.create_queue('x', dead_letter_queue => 'no_such_queue');
SELECT mq.alter_queue('dlq', dead_letter_queue => 'work');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue('chain', dead_letter_queue => 'work');
SELECT mq.alter_queue('dlq', dead_letter_queue => 'chain');
BEGIN;
SELECT mq.drop_queue('dlq');	-- clears the dead_letter_queue of work
SELECT queue_name, dead_letter_queue FROM mq.queues
	WHERE queue_name IN ('work', 'chain', 'dlq') ORDER BY 1;
ROLLBACK;
SELECT mq.redrive('dlq', 'dlq');
SELECT mq.redrive('dlq', NULL);
SELECT mq.redrive('dlq', 'work', -1);
SELECT mq.redrive('nope', 'work');
SELECT mq.drop_queue('chain');

-- idempotent send --------------------------------------------------------------
SELECT mq.create_queue('idem', dedup_window => '1 hour');
SELECT mq.send('idem', '{"v": 1}', dedup_key => 'order-1') AS first \gset
-- a repeat while the first is queued is a no-op returning the first id
SELECT mq.send('idem', '{"v": 2}', dedup_key => 'order-1') = :first AS same;
SELECT queue_length FROM mq.metrics('idem');
-- ... and after it was acked, within dedup_window
SELECT mq.ack('idem', :first);
SELECT mq.send('idem', '{"v": 3}', dedup_key => 'order-1') = :first AS same_after_ack;
SELECT queue_length FROM mq.metrics('idem');
-- other keys, and no key, are not affected
SELECT mq.send('idem', '{"v": 4}', dedup_key => 'order-2') <> :first AS other_key;
SELECT mq.send('idem', '{"v": 5}') IS NOT NULL AS no_key;
-- batches: repeats inside the batch and of earlier keys return the first ids
SELECT array_agg(id = :first ORDER BY ord) AS is_first
FROM mq.send_batch('idem', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
				   dedup_keys => ARRAY['order-1', 'order-3', 'order-3', NULL])
	 WITH ORDINALITY AS b(id, ord);
SELECT count(DISTINCT id) FROM mq.send_batch('idem', ARRAY['{}', '{}']::jsonb[],
											dedup_keys => ARRAY['order-9', 'order-9']) id;
SELECT queue_length FROM mq.metrics('idem');
-- a rolled-back send does not keep its key
BEGIN;
SELECT mq.send('idem', '{"v": "rb"}', dedup_key => 'order-rb') AS rb \gset
ROLLBACK;
SELECT mq.send('idem', '{"v": "again"}', dedup_key => 'order-rb') <> :rb AS new_id;
-- with dedup_window 0 a key is forgotten at ack
SELECT mq.create_queue('idem0', dedup_window => '0');
SELECT mq.send('idem0', '{}', dedup_key => 'k') AS k0 \gset
SELECT mq.ack('idem0', :k0);
SELECT mq.send('idem0', '{}', dedup_key => 'k') <> :k0 AS new_id;
-- maintain() prunes keys whose window is over
SELECT mq.alter_queue('idem', dedup_window => '1 millisecond');
SELECT pg_sleep(0.05);
SELECT queue_name, dedup_keys_pruned FROM mq.maintain() WHERE queue_name = 'idem';
SELECT mq.send('idem', '{"v": 6}', dedup_key => 'order-1') <> :first AS new_after_window;
SELECT mq.drop_queue('idem'), mq.drop_queue('idem0');

-- FIFO groups -------------------------------------------------------------------
SELECT mq.create_queue('fifo', fifo => true, visibility_timeout => '1 hour');
SELECT count(*) FROM mq.send_batch('fifo',
	ARRAY['{"a": 1}', '{"a": 2}', '{"b": 1}', '{"a": 3}', '{"b": 2}', '{"free": 1}']::jsonb[],
	group_keys => ARRAY['a', 'a', 'b', 'a', 'b', NULL]);
-- one read gets the head of each group (and ungrouped messages)
SELECT group_key, body FROM mq.read('fifo', 10);
-- while a head is in flight its group gives nothing
SELECT count(*) FROM mq.read('fifo', 10);
-- acking a head releases the next message of its group only
SELECT mq.ack('fifo', 1);
SELECT group_key, body FROM mq.read('fifo', 10);
-- a nacked head blocks its group until it is delivered again
SELECT mq.nack('fifo', 3, '1 hour');
SELECT count(*) FROM mq.read('fifo', 10);
SELECT mq.nack('fifo', 3);
SELECT group_key, body, read_ct FROM mq.read('fifo', 10);
-- priority does not reorder a group
SELECT mq.purge_queue('fifo');
SELECT mq.send('fifo', '{"n": 1}', group_key => 'g') IS NOT NULL AS sent;
SELECT mq.send('fifo', '{"n": 2}', group_key => 'g', priority => 10) IS NOT NULL AS sent;
SELECT body FROM mq.read('fifo', 10);
SELECT mq.drop_queue('fifo');

-- message_ttl --------------------------------------------------------------------
SELECT mq.create_queue('ttl', message_ttl => '1 second', dead_letter_queue => 'dlq');
SELECT mq.send('ttl', '{"t": "leased"}') IS NOT NULL AS sent;
SELECT body FROM mq.read('ttl', 1, '1 hour');
SELECT mq.send('ttl', '{"t": "visible"}') IS NOT NULL AS sent;
SELECT mq.send('ttl', '{"t": "delayed"}', delay => '1 hour') IS NOT NULL AS sent;
SELECT mq.purge_queue('dlq');
SELECT pg_sleep(1.1);
-- read never returns an expired message; it dead-letters it
SELECT count(*) FROM mq.read('ttl', 10);
-- expiry also happens with nobody reading; a leased message is left alone
SELECT queue_name, dead_lettered, expired FROM mq.maintain() WHERE queue_name = 'ttl';
SELECT queue_length, expired FROM mq.metrics('ttl');
SELECT body, headers->'x-death'->0->>'reason' AS reason FROM mq.read('dlq', 10) ORDER BY body->>'t';
SELECT mq.drop_queue('ttl');

-- max_length ---------------------------------------------------------------------
SELECT mq.create_queue('bounded', max_length => 2);
SELECT mq.send('bounded', '{"n": 1}') IS NOT NULL AS sent;
SELECT mq.send('bounded', '{"n": 2}') IS NOT NULL AS sent;
SELECT mq.send('bounded', '{"n": 3}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('bounded', ARRAY['{}']::jsonb[]);
SELECT body FROM mq.pop('bounded');
SELECT mq.send('bounded', '{"n": 3}') IS NOT NULL AS sent_after_room;
SELECT mq.send('bounded', '{"n": 4}', dedup_key => 'k');
SELECT mq.create_queue('ring', max_length => 3, overflow => 'drop_head');
SELECT count(*) FROM mq.send_batch('ring', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
SELECT count(*) FROM mq.send_batch('ring', ARRAY['{"n": 4}', '{"n": 5}']::jsonb[]);
SELECT queue_length, archive_length, dropped FROM mq.metrics('ring');
SELECT array_agg(msg_id ORDER BY msg_id) AS ring_ids,
	   string_agg(body::text, ' ' ORDER BY msg_id) AS bodies
FROM mq.read('ring', 10, '1 hour') \gset
\echo :bodies
-- leased messages are never dropped: a queue full of them refuses
SELECT mq.send('ring', '{"n": 6}');
SELECT count(*) FROM unnest(:'ring_ids'::bigint[]) AS id WHERE mq.nack('ring', id);
SELECT mq.send('ring', '{"n": 6}') IS NOT NULL AS sent_after_leases_ended;
SELECT body FROM mq.read('ring', 10);
SELECT mq.send_batch('ring', ARRAY['{}', '{}', '{}', '{}']::jsonb[]);
-- priorities and delays keep working with all of the above
SELECT mq.alter_queue('ring', max_length => 0);
SELECT mq.purge_queue('ring');
SELECT mq.send('ring', '{"p": 1}', priority => 1, delay => '1 hour') IS NOT NULL AS sent;
SELECT mq.send('ring', '{"p": 2}', priority => 2) IS NOT NULL AS sent;
SELECT mq.send('ring', '{"p": 0}') IS NOT NULL AS sent;
SELECT body FROM mq.read('ring', 10);
SELECT mq.drop_queue('bounded'), mq.drop_queue('ring'), mq.drop_queue('nodlq'),
	   mq.drop_queue('work'), mq.drop_queue('dlq');
