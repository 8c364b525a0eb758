-- Messages as brokers define them, on queues and exchanges: a JSON body or
-- a bytes payload with its content type and encoding, correlation_id and
-- reply_to, a per-message ttl, and sent_by.  (Streams: stream_payloads.)
\set SHOW_CONTEXT never

SELECT mq.create_queue('pl_q');
SELECT queue_id AS pl_q_id FROM mq._queue WHERE queue_name = 'pl_q' \gset

-- every byte value 0-255, and an empty payload, come back exactly
SELECT mq.send('pl_q', payload => (SELECT string_agg(set_byte('\x00'::bytea, 0, i), ''::bytea ORDER BY i)
								   FROM generate_series(0, 255) i)) > 0 AS sent;
SELECT mq.send('pl_q', payload => ''::bytea, content_type => 'application/x-empty') > 0 AS sent;
SELECT length(payload) AS len, content_type, content_encoding, body,
	   (SELECT bool_and(get_byte(payload, i) = i) FROM generate_series(0, length(payload) - 1) i) AS each_in_place
FROM mq.read('pl_q', 10) ORDER BY msg_id;

-- up to mq.max_message_size bytes; one more is refused (54000), in a batch too
SET mq.max_message_size = 1000;
SELECT mq.send('pl_q', payload => decode(repeat('ab', 1000), 'hex')) > 0 AS at_limit;
SELECT mq.send('pl_q', payload => decode(repeat('ab', 1001), 'hex'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.send_batch('pl_q', payloads => ARRAY[decode(repeat('ab', 1001), 'hex')]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET mq.max_message_size;

-- JSON and payloads mix in one queue and one batch; a payload's default
-- content type; properties with either kind; pop returns them too
SELECT mq.purge_queue('pl_q');
SELECT count(*) FROM mq.send_batch('pl_q',
	bodies => ARRAY['{"n": 1}', NULL, '{"n": 3}']::jsonb[],
	payloads => ARRAY[NULL, 'hello', NULL]::bytea[],
	content_types => ARRAY[NULL, 'text/plain; charset=utf-8', NULL],
	content_encoding => 'identity',
	correlation_ids => ARRAY['c1', 'c2', NULL],
	reply_to => 'pl_replies');
SELECT mq.send('pl_q', payload => '\x1f8b', content_encoding => 'gzip', correlation_id => 'c4') > 0 AS sent;
SELECT mq.send('pl_q', '{"n": 5}', reply_to => 'pl_replies') > 0 AS sent;
SELECT body, payload, content_type, content_encoding, correlation_id, reply_to, expires_at,
	   sent_by = current_user AS by_me
FROM mq.pop('pl_q', 10) ORDER BY msg_id;

-- the same through the statements (mq.direct_access = off)
SET mq.direct_access = off;
SELECT count(*) FROM mq.send_batch('pl_q', payloads => ARRAY['\x00ff', '\xff00']::bytea[],
								   content_types => ARRAY['a/b', NULL], content_encoding => 'br',
								   reply_to => 'pl_replies', correlation_ids => ARRAY['k1', NULL]);
SELECT mq.send('pl_q', payload => '\x0102', content_type => 'c/d', correlation_id => 'k', ttl => '1 hour') > 0 AS sent;
SELECT payload, content_type, content_encoding, correlation_id, reply_to, expires_at IS NOT NULL AS expires,
	   sent_by = current_user AS by_me
FROM mq.read('pl_q', 10) ORDER BY msg_id;
RESET mq.direct_access;

-- every error: both, neither, content properties with JSON, empty, control
-- characters, too long, arrays of other lengths, elements with both or neither
SELECT mq.send('pl_q', '{}', payload => 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('pl_q');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('pl_q', NULL, payload => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('pl_q', '{}', content_type => 'application/json');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('pl_q', '{}', content_encoding => 'gzip');
SELECT mq.send('pl_q', payload => 'x', content_type => '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('pl_q', payload => 'x', content_type => E'text/plain\r\nX-Evil: 1');
SELECT mq.send('pl_q', payload => 'x', content_encoding => '');
SELECT mq.send('pl_q', payload => 'x', content_type => repeat('t', 256));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('pl_q', payload => 'x', content_type => repeat('t', 255)) > 0 AS longest_type;
SELECT mq.send('pl_q', '{}', correlation_id => repeat('c', 256));
SELECT mq.send('pl_q', '{}', reply_to => repeat('r', 256));
SELECT mq.send('pl_q', '{}', ttl => '0');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('pl_q', '{}', ttl => '-1 second');
SELECT mq.send('pl_q', '{}', ttl => '1000 years');
SELECT mq.send_batch('pl_q');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('pl_q', ARRAY['{}']::jsonb[], payloads => ARRAY['a', 'b']::bytea[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('pl_q', ARRAY['{}', '{}']::jsonb[], payloads => ARRAY['a', NULL]::bytea[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('pl_q', ARRAY['{}', NULL]::jsonb[], payloads => ARRAY[NULL, NULL]::bytea[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('pl_q', payloads => ARRAY['a', 'b']::bytea[], content_types => ARRAY['x/y']);
SELECT mq.send_batch('pl_q', ARRAY['{}']::jsonb[], content_types => ARRAY['x/y']);
SELECT mq.send_batch('pl_q', ARRAY['{}']::jsonb[], content_encoding => 'gzip');
SELECT mq.send_batch('pl_q', ARRAY['{}']::jsonb[], payloads => ARRAY[NULL]::bytea[], content_encoding => 'gzip');
SELECT mq.send('pl_q', '{}', correlation_id => E'a\r\nb');
SELECT mq.send('pl_q', '{}', reply_to => E'q\u0085');
SELECT mq.send('pl_q', '{}', correlation_id => '', reply_to => 'été') > 0 AS empty_and_accents_taken;
SELECT mq.send_batch('pl_q', payloads => ARRAY['a']::bytea[], correlation_ids => ARRAY[repeat('c', 256)]);
SELECT mq.send_batch('pl_q', payloads => ARRAY['a']::bytea[], correlation_ids => ARRAY['a', 'b']);
-- sent_by is not a parameter: nobody sets it
-- (no function of mq has an input parameter of that name -- mq.peek()
-- returns a column of it; the error text for an unknown named argument
-- differs between PostgreSQL versions)
SELECT count(*) AS functions_taking_sent_by
FROM pg_proc p, unnest(p.proargnames) WITH ORDINALITY AS a(name, n)
WHERE p.pronamespace = 'mq'::regnamespace AND a.name = 'sent_by'
  AND coalesce(p.proargmodes[a.n], 'i') IN ('i', 'b', 'v');
DO $$
BEGIN
	EXECUTE $q$SELECT mq.send('pl_q', '{}', sent_by => 'postgres')$q$;
EXCEPTION WHEN undefined_function THEN
	RAISE NOTICE 'mq.send(sent_by => ...): %', SQLSTATE;
END;
$$;
SELECT count(*) AS left_behind FROM mq.read('pl_q', 100)
WHERE body IS NOT NULL OR content_type NOT IN ('c/d', repeat('t', 255));

-- sent_by: the current user, under SET ROLE and in a SECURITY DEFINER function
CREATE ROLE pl_alice;
CREATE ROLE pl_bob;
SELECT mq.grant('pl_q', 'pl_alice', 'send');
SELECT mq.grant('pl_q', 'pl_bob', 'send');
SELECT mq.purge_queue('pl_q');
CREATE FUNCTION pl_send_as_definer() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	AS $$ SELECT mq.send('pl_q', '{"via": "definer"}') $$;
ALTER FUNCTION pl_send_as_definer() OWNER TO pl_bob;
GRANT EXECUTE ON FUNCTION pl_send_as_definer() TO pl_alice;
SET ROLE pl_alice;
SELECT mq.send('pl_q', '{"via": "alice"}') > 0 AS sent;
SELECT pl_send_as_definer() > 0 AS sent;
RESET ROLE;
-- a trigger records the role whose statement fired it
CREATE TABLE pl_orders (id int PRIMARY KEY);
GRANT INSERT ON pl_orders TO pl_alice;
CREATE TRIGGER pl_outbox AFTER INSERT ON pl_orders
	FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('pl_q');
SET ROLE pl_alice;
INSERT INTO pl_orders VALUES (1);
RESET ROLE;
SELECT coalesce(body->>'via', body->>'op') AS via, sent_by FROM mq.read('pl_q', 10) ORDER BY msg_id;

-- dead letters, the archive and redrive keep the payload and properties and
-- the sender; a dead letter loses its own expiry
SELECT mq.create_queue('pl_dlq');
SELECT mq.create_queue('pl_work', max_receives => 1, dead_letter_queue => 'pl_dlq', archive => true);
SELECT mq.send('pl_work', payload => '\xcafe', content_type => 'application/x-protobuf',
			   content_encoding => 'gzip', correlation_id => 'r1', reply_to => 'pl_replies',
			   ttl => '1 hour') AS pl_m1 \gset
SELECT msg_id = :pl_m1 AS leased FROM mq.read('pl_work', 1, '1 millisecond');
SELECT pg_sleep(0.05);
SELECT count(*) AS delivered FROM mq.read('pl_work', 1);
SELECT payload, content_type, content_encoding, correlation_id, reply_to, expires_at, sent_by = current_user AS by_me,
	   headers->'x-death'->0->>'reason' AS reason
FROM mq.read('pl_dlq', 1, '1 millisecond');
SELECT pg_sleep(0.05);
SELECT mq.redrive('pl_dlq', 'pl_work');
SELECT payload, content_type, correlation_id, reply_to, expires_at, sent_by = current_user AS by_me,
	   headers->'x-death'->0->>'reason' AS reason
FROM mq.pop('pl_work', 1);
SELECT msg_id AS pl_m2 FROM mq.send('pl_work', payload => '\xbeef', correlation_id => 'r2', ttl => '1 hour') AS msg_id \gset
SELECT count(*) FROM mq.read('pl_work', 1);
SELECT mq.archive('pl_work', :pl_m2);
SELECT queue_id AS pl_work_id FROM mq._queue WHERE queue_name = 'pl_work' \gset
SELECT payload, correlation_id, expires_at IS NOT NULL AS expiry_kept, sent_by = current_user AS by_me
FROM mq.a_:pl_work_id WHERE msg_id = :pl_m2;

-- a message's own ttl: the sooner of it and the queue's message_ttl wins;
-- expired messages are dead-lettered with the reason "expired" (to the
-- archive where there is no dead-letter queue), also on queues without
-- any dead-letter option, on both paths
SELECT mq.create_queue('pl_ttl', message_ttl => '1 hour', dead_letter_queue => 'pl_dlq');
SELECT mq.purge_queue('pl_dlq');
SELECT mq.send('pl_ttl', '{"n": "sooner"}', ttl => '1 millisecond') > 0 AS sent;
SELECT mq.send('pl_ttl', '{"n": "later"}', ttl => '2 hours') > 0 AS sent;
SELECT mq.send('pl_ttl', '{"n": "none"}') > 0 AS sent;
SELECT pg_sleep(0.05);
SELECT body->>'n' AS delivered, expires_at IS NOT NULL AS has_expiry FROM mq.read('pl_ttl', 10) ORDER BY msg_id;
SELECT body->>'n' AS dead, headers->'x-death'->0->>'reason' AS reason, expires_at FROM mq.read('pl_dlq', 10);
SELECT mq.create_queue('pl_ttl_queue_first', message_ttl => '1 millisecond');
SELECT mq.send('pl_ttl_queue_first', '{"n": "queue ttl sooner"}', ttl => '1 hour') > 0 AS sent;
SELECT pg_sleep(0.05);
SELECT count(*) AS delivered FROM mq.read('pl_ttl_queue_first', 10);
SELECT expired FROM mq.metrics('pl_ttl_queue_first');
SELECT mq.create_queue('pl_plain');
SELECT queue_id AS pl_plain_id FROM mq._queue WHERE queue_name = 'pl_plain' \gset
SELECT mq.send('pl_plain', '{"n": "old"}', ttl => '1 millisecond') > 0 AS sent;
SELECT mq.send('pl_plain', '{"n": "fresh"}') > 0 AS sent;
SELECT pg_sleep(0.05);
SELECT body->>'n' AS delivered FROM mq.read('pl_plain', 10);
SELECT body->>'n' AS archived, headers->'x-death'->0->>'reason' AS reason FROM mq.a_:pl_plain_id;
SELECT expired FROM mq.metrics('pl_plain');
SET mq.direct_access = off;
SELECT mq.send('pl_plain', '{"n": "old2"}', ttl => '1 millisecond') > 0 AS sent;
SELECT pg_sleep(0.05);
SELECT count(*) AS popped FROM mq.pop('pl_plain', 10);
SELECT count(*) AS archived FROM mq.a_:pl_plain_id WHERE body->>'n' = 'old2';
RESET mq.direct_access;

-- exchanges route payloads as JSON: topic and headers, one and many
SELECT mq.create_exchange('pl_topic', 'topic');
SELECT mq.create_exchange('pl_hdr', 'headers');
SELECT mq.create_queue('pl_x');
SELECT mq.bind('pl_topic', 'pl_x', 'orders.*');
SELECT mq.bind('pl_hdr', 'pl_x', '', '{"x-match": "all", "kind": "png"}');
SELECT mq.publish('pl_topic', 'orders.eu', payload => '\x89504e47', content_type => 'image/png',
				  correlation_id => 'p1', reply_to => 'pl_replies', ttl => '1 hour') AS reached;
SELECT mq.publish('pl_hdr', '', headers => '{"kind": "png"}', payload => '\x89', content_type => 'image/png') AS reached;
SELECT mq.publish('pl_hdr', '', headers => '{"kind": "gif"}', payload => '\x47') AS reached;
SELECT * FROM mq.publish_batch('pl_topic', ARRAY['orders.us', 'orders.eu'],
	payloads => ARRAY['\x01', '\x02']::bytea[], correlation_ids => ARRAY['b1', 'b2']);
SELECT mq.publish('pl_topic', 'orders.eu', '{}', payload => '\x01');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.publish('pl_topic', 'orders.eu');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT payload, content_type, correlation_id, reply_to, expires_at IS NOT NULL AS expires,
	   headers->>'x-routing-key' AS routing_key, sent_by = current_user AS by_me
FROM mq.read('pl_x', 10) ORDER BY msg_id;

-- request/reply: the requester sends with reply_to and correlation_id, the
-- responder answers there with the same correlation_id, the requester matches
SELECT mq.create_queue('pl_rpc');
SELECT mq.create_queue('pl_replies');
SELECT mq.send('pl_rpc', '{"op": "add", "a": 2, "b": 3}', correlation_id => 'req-1', reply_to => 'pl_replies') > 0 AS asked;
SELECT mq.send(r.reply_to, jsonb_build_object('sum', (r.body->>'a')::int + (r.body->>'b')::int),
			   correlation_id => r.correlation_id) > 0 AS answered,
	   mq.ack('pl_rpc', r.msg_id) AS acked
FROM mq.read('pl_rpc', 1) r;
SELECT correlation_id, body FROM mq.read('pl_replies', 1) WHERE correlation_id = 'req-1';

DROP TABLE pl_orders;
DROP FUNCTION pl_send_as_definer();
SELECT mq.drop_queue(q) FROM unnest(ARRAY['pl_q', 'pl_work', 'pl_dlq', 'pl_ttl', 'pl_ttl_queue_first',
										 'pl_plain', 'pl_x', 'pl_rpc', 'pl_replies']) q;
SELECT mq.drop_exchange('pl_topic', cascade => true), mq.drop_exchange('pl_hdr', cascade => true);
DROP ROLE pl_alice;
DROP ROLE pl_bob;
