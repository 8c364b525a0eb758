-- Links made before a revoke: bindings, exchange-to-exchange bindings,
-- alternate exchanges and dead-letter queues lead into a queue only while
-- their owner may still send there (privileges are checked where the
-- message moves); the owner of a queue can always remove what leads into it.
\set SHOW_CONTEXT never

CREATE ROLE regress_links_owner;
CREATE ROLE regress_links_producer;
CREATE ROLE regress_links_consumer;
CREATE ROLE regress_links_hostile;
CREATE ROLE regress_links_team;

-- the owner's queue and exchange; a producer that may send, a consumer that
-- may read, and a role that gets everything for a while
SET ROLE regress_links_owner;
SELECT mq.create_queue('links_owned');
SELECT mq.create_exchange('links_owner_x', 'fanout');
SELECT mq.bind('links_owner_x', 'links_owned');
SELECT mq.grant('links_owned', 'regress_links_producer', 'send');
SELECT mq.grant('links_owned', 'regress_links_consumer', 'read');
SELECT mq.grant('links_owned', 'regress_links_hostile', 'all');
SELECT mq.grant_exchange('links_owner_x', 'regress_links_hostile', 'all');
SELECT mq.create_stream('links_stream');
SELECT mq.grant('links_stream', 'regress_links_hostile', 'all');

-- the other role links its own objects to them
SET ROLE regress_links_hostile;
SELECT mq.create_exchange('links_h_bound', 'fanout');
SELECT mq.bind('links_h_bound', 'links_owned');
SELECT mq.create_exchange('links_h_alt', 'direct', alternate_exchange => 'links_owner_x');
SELECT mq.create_exchange('links_h_e2e', 'fanout');
SELECT mq.bind_exchange('links_h_e2e', 'links_owner_x');
SELECT mq.create_queue('links_h_q', max_receives => 1, dead_letter_queue => 'links_owned');
SELECT mq.create_exchange('links_h_stream', 'fanout');
SELECT mq.bind('links_h_stream', 'links_stream');
RESET ROLE;
SELECT mq._queue_id('links_h_q') AS links_h_q_id \gset
SET ROLE regress_links_hostile;
SELECT source, destination, destination_type, owner FROM mq.bindings
	WHERE source LIKE 'links%' ORDER BY 1, 2;
-- every path leads into the owner's queue
SELECT mq.publish('links_h_bound', 'k', '{"path": "binding"}') AS reached;
SELECT mq.publish('links_h_alt', 'k', '{"path": "alternate"}') AS reached;
SELECT mq.publish('links_h_e2e', 'k', '{"path": "exchange"}') AS reached;
SELECT mq.publish('links_h_stream', 'k', '{"path": "stream"}') AS reached;
SELECT mq.send('links_h_q', '{"path": "dead letter"}') > 0 AS sent;
SELECT mq.nack('links_h_q', msg_id) FROM mq.read('links_h_q');	-- its first receive
SELECT count(*) FROM mq.read('links_h_q');	-- past max_receives: a dead letter
RESET ROLE;
SELECT body->>'path' AS path FROM mq.read('links_owned', 10) ORDER BY 1;
SELECT mq.purge_queue('links_owned');

-- the owner revokes every grant of the other role
SET ROLE regress_links_owner;
SELECT mq.revoke('links_owned', 'regress_links_hostile', 'all');
SELECT mq.revoke_exchange('links_owner_x', 'regress_links_hostile', 'all');
SELECT mq.revoke('links_stream', 'regress_links_hostile', 'all');

-- no path leads in any more: a cut binding matches nothing, so the message
-- is unroutable (counted, or an error when mandatory)
SET ROLE regress_links_hostile;
SELECT mq.publish('links_h_bound', 'k', '{"path": "binding"}') AS reached;
SELECT mq.publish('links_h_bound', 'k', '{"path": "binding"}', mandatory => true);
SELECT mq.publish('links_h_alt', 'k', '{"path": "alternate"}') AS reached;
SELECT mq.publish('links_h_e2e', 'k', '{"path": "exchange"}') AS reached;
SELECT mq.publish('links_h_stream', 'k', '{"path": "stream"}') AS reached;
SELECT exchange_name, unroutable FROM mq.exchanges WHERE exchange_name LIKE 'links_h%' ORDER BY 1;
-- a dead letter that may not go to its dead-letter queue is archived where
-- it died, with the reason in its x-death entry
SELECT mq.send('links_h_q', '{"path": "dead letter"}') > 0 AS sent;
SELECT mq.nack('links_h_q', msg_id) FROM mq.read('links_h_q');
SELECT count(*) FROM mq.read('links_h_q');
SELECT queue_length, archive_length, dead_lettered FROM mq.metrics('links_h_q');
RESET ROLE;
SELECT a.body->>'path' AS path, a.headers->'x-death'->0->>'reason' AS reason,
	   a.headers->'x-death'->0->>'refused' AS refused,
	   a.headers->'x-death'->0->>'dead_letter_queue' AS dead_letter_queue
	FROM mq.a_:links_h_q_id a;
SELECT queue_length FROM mq.metrics('links_owned');

-- the producer and the consumer keep their grants
SET ROLE regress_links_producer;
SELECT mq.send('links_owned', '{"path": "producer"}') > 0 AS sent;
SET ROLE regress_links_consumer;
SELECT body->>'path' AS path FROM mq.read('links_owned', 10);
SELECT mq.send('links_owned', '{"path": "consumer"}');
SET ROLE regress_links_producer;
SELECT count(*) FROM mq.read('links_owned', 10);

-- a grant through a role: the links follow the membership
SET ROLE regress_links_owner;
SELECT mq.grant('links_owned', 'regress_links_team', 'send');
RESET ROLE;
GRANT regress_links_team TO regress_links_hostile;
SET ROLE regress_links_hostile;
SELECT mq.publish('links_h_bound', 'k', '{"path": "member"}') AS reached;
RESET ROLE;
REVOKE regress_links_team FROM regress_links_hostile;
SET ROLE regress_links_hostile;
SELECT mq.publish('links_h_bound', 'k', '{"path": "member"}') AS reached;

-- the other role cannot unbind what the owner bound, nor bind again
SELECT mq.unbind('links_owner_x', 'links_owned');
SELECT mq.bind('links_h_bound', 'links_owned', 'again');

-- the owner removes what leads into its queue: the other role's binding
SET ROLE regress_links_owner;
SELECT mq.unbind('links_h_bound', 'links_owned') AS unbound;
SELECT mq.unbind('links_h_bound', 'links_owned') AS unbound_again;
-- and drops its queue though the other role's queue names it for dead letters
SELECT mq.drop_queue('links_owned');
SELECT queue_name, dead_letter_queue FROM mq.queues WHERE queue_name LIKE 'links%' ORDER BY 1;
SELECT source, destination FROM mq.bindings WHERE source LIKE 'links%' ORDER BY 1, 2;
RESET ROLE;

-- dead letters respect the max_length of their dead-letter queue, as a send
-- would: what does not fit is archived where it died ("refused": "full")
SET ROLE regress_links_owner;
SELECT mq.create_queue('links_bounded', max_length => 1);
SELECT mq.create_queue('links_src', max_receives => 1, dead_letter_queue => 'links_bounded');
SELECT count(*) FROM mq.send_batch('links_src', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
SELECT count(mq.nack('links_src', msg_id)) FROM mq.read('links_src', 3);
SELECT count(*) FROM mq.read('links_src', 3);	-- all three are dead letters
SELECT queue_length, archive_length, dead_lettered FROM mq.metrics('links_src');
SELECT queue_length FROM mq.metrics('links_bounded');
SELECT mq.send('links_bounded', '{"n": 4}');	-- a send is refused too
RESET ROLE;
SELECT mq._queue_id('links_src') AS links_src_id \gset
SELECT a.body->>'n' AS n, a.headers->'x-death'->0->>'reason' AS reason,
	   a.headers->'x-death'->0->>'refused' AS refused,
	   a.headers->'x-death'->0->>'dead_letter_queue' AS dead_letter_queue
	FROM mq.a_:links_src_id a ORDER BY 1;
SELECT body->>'n' AS n FROM mq.read('links_bounded', 10);
-- the sweep too
SET ROLE regress_links_owner;
SELECT mq.alter_queue('links_src', message_ttl => '1 ms');
SELECT count(*) FROM mq.send_batch('links_src', ARRAY['{"n": 5}', '{"n": 6}']::jsonb[]);
SELECT pg_sleep(0.01);
RESET ROLE;
SELECT * FROM mq._sweep('links_src');
SET ROLE regress_links_owner;
SELECT queue_length, archive_length FROM mq.metrics('links_src');
SELECT queue_length FROM mq.metrics('links_bounded');
SELECT mq.purge_queue('links_bounded');

-- a dead-letter queue with overflow 'drop_head' drops its oldest to make room
SELECT mq.create_queue('links_ring', max_length => 2, overflow => 'drop_head');
SELECT mq.alter_queue('links_src', dead_letter_queue => 'links_ring', message_ttl => '0');
SELECT count(*) FROM mq.send_batch('links_src', ARRAY['{"n": 7}', '{"n": 8}', '{"n": 9}']::jsonb[]);
SELECT count(mq.nack('links_src', msg_id)) FROM mq.read('links_src', 3);
SELECT count(*) FROM mq.read('links_src', 2);	-- two dead letters fill it
SELECT count(*) FROM mq.read('links_src', 1);	-- the third drops the oldest
SELECT queue_length, archive_length, dropped FROM mq.metrics('links_ring');
SELECT body->>'n' AS n FROM mq.read('links_ring', 10) ORDER BY 1;

-- redrive respects the target's max_length: what does not fit stays
SELECT mq.create_queue('links_redrive_dlq');
SELECT count(*) FROM mq.send_batch('links_redrive_dlq',
	ARRAY['{"n": 10}', '{"n": 11}', '{"n": 12}']::jsonb[]);
SELECT mq.send('links_bounded', '{"n": 13}') > 0 AS sent;
SELECT mq.alter_queue('links_bounded', max_length => 2);
SELECT mq.redrive('links_redrive_dlq', 'links_bounded') AS moved;
SELECT mq.redrive('links_redrive_dlq', 'links_bounded') AS moved;
SELECT queue_length FROM mq.metrics('links_bounded');
SELECT queue_length FROM mq.metrics('links_redrive_dlq');
-- into a 'drop_head' queue, as a send: its oldest make room
SELECT mq.purge_queue('links_ring');
SELECT mq.send('links_ring', '{"n": 14}') > 0 AS sent;
SELECT mq.redrive('links_redrive_dlq', 'links_ring') AS moved;
SELECT body->>'n' AS n FROM mq.read('links_ring', 10) ORDER BY 1;
SELECT dropped FROM mq.metrics('links_ring');
SELECT mq.drop_queue(q) FROM unnest(ARRAY['links_src', 'links_bounded', 'links_ring',
	'links_redrive_dlq']) q;
RESET ROLE;

-- clean up
SELECT mq.drop_queue('links_h_q');
SELECT mq.drop_exchange(e, cascade => true)
	FROM unnest(ARRAY['links_h_bound', 'links_h_alt', 'links_h_e2e', 'links_h_stream',
					  'links_owner_x']) e;
SELECT mq.drop_stream('links_stream');
DROP ROLE regress_links_owner, regress_links_producer, regress_links_consumer,
	regress_links_hostile, regress_links_team;
