-- Exchanges and bindings: AMQP routing.
\set SHOW_CONTEXT never

-- topic matching, RabbitMQ's rules: '*' is one word, '#' zero or more;
-- empty words count; an empty key has no words
SELECT pattern, key, mq._topic_matches(pattern, key) AS matches
FROM (VALUES
	('a.b.c', 'a.b.c'), ('a.b.c', 'a.b'), ('a.b', 'a.b.c'),
	('*', 'a'), ('*', ''), ('*', 'a.b'), ('*.*', '.'), ('*', 'ab.'),
	('#', ''), ('#', 'a'), ('#', 'a.b.c'), ('#', '.'),
	('a.#', 'a'), ('a.#', 'a.b.c'), ('a.#', 'ab'), ('#.a', 'a'), ('#.a', 'x.y.a'),
	('a.#.b', 'a.b'), ('a.#.b', 'a.x.b'), ('a.#.b', 'a.x.y.b'), ('a.#.b', 'a.x.y'),
	('#.#', ''), ('#.#', 'a.b'), ('a.#.#.b', 'a.b'), ('#.*', ''), ('#.*', 'a'),
	('*.#', 'a'), ('*.#.*', 'a'), ('*.#.*', 'a.b'),
	('a#b', 'a#b'), ('a#b', 'ab'), ('a*b', 'axb'), ('a*b', 'a*b'),
	('', ''), ('', 'a'), ('a..b', 'a..b'), ('a.*.b', 'a..b'), ('a..b', 'a.b'),
	('orders.*.created', 'orders.eu.created'), ('orders.*.created', 'orders.created')
) AS t(pattern, key);

-- direct -------------------------------------------------------------------------
SELECT mq.create_queue('q1'), mq.create_queue('q2'), mq.create_queue('q3');
SELECT mq.create_exchange('direct_x');
SELECT mq.create_exchange('direct_x', 'direct');	-- same declaration: no-op
SELECT mq.bind('direct_x', 'q1', 'red');
SELECT mq.bind('direct_x', 'q2', 'red');
SELECT mq.bind('direct_x', 'q2', 'green');
SELECT mq.bind('direct_x', 'q2', 'green');		-- same binding: no-op
SELECT mq.publish('direct_x', 'red', '{"c": "red"}') AS reached;
SELECT mq.publish('direct_x', 'green', '{"c": "green"}') AS reached;
SELECT mq.publish('direct_x', 'Red', '{"c": "Red"}') AS reached;
SELECT mq.publish('direct_x', 'blue', '{"c": "blue"}') AS reached;
SELECT body, headers FROM mq.read('q1', 10);
SELECT body, headers FROM mq.read('q2', 10);
SELECT unroutable FROM mq.exchanges WHERE exchange_name = 'direct_x';

-- fanout -------------------------------------------------------------------------
SELECT mq.create_exchange('fan', 'fanout');
SELECT mq.bind('fan', 'q1'), mq.bind('fan', 'q2', 'ignored'), mq.bind('fan', 'q3');
SELECT mq.publish('fan', 'anything', '{"f": 1}') AS reached;
SELECT (SELECT count(*) FROM mq.read('q1', 10)) AS q1, (SELECT count(*) FROM mq.read('q2', 10)) AS q2,
	   (SELECT count(*) FROM mq.read('q3', 10)) AS q3;

-- topic --------------------------------------------------------------------------
SELECT mq.create_exchange('events', 'topic');
SELECT mq.bind('events', 'q1', 'orders.*.created');
SELECT mq.bind('events', 'q2', 'orders.#');
SELECT mq.bind('events', 'q3', '#.created');
-- a queue matched by several bindings gets the message once
SELECT mq.bind('events', 'q3', 'orders.eu.*');
SELECT key, mq.publish('events', key, jsonb_build_object('key', key)) AS reached
FROM unnest(ARRAY['orders.eu.created', 'orders.eu.paid', 'orders', 'users.created', 'orders.eu.x.created', 'billing']) AS key;
SELECT 'q1' AS q, body->>'key' AS key FROM mq.read('q1', 10)
UNION ALL SELECT 'q2', body->>'key' FROM mq.read('q2', 10)
UNION ALL SELECT 'q3', body->>'key' FROM mq.read('q3', 10)
ORDER BY 1, 2;

-- headers ------------------------------------------------------------------------
SELECT mq.create_exchange('hx', 'headers');
SELECT mq.bind('hx', 'q1', '', '{"format": "pdf", "type": "report"}');					-- all (default)
SELECT mq.bind('hx', 'q2', '', '{"x-match": "any", "format": "pdf", "type": "log"}');
SELECT mq.bind('hx', 'q3', '', '{"x-match": "all-with-x", "x-tenant": 7, "format": "pdf"}');
SELECT mq.create_queue('q4');
SELECT mq.bind('hx', 'q4', '', '{"x-match": "any-with-x", "x-tenant": 7}');
SELECT h, mq.publish('hx', '', '{}', h::jsonb) AS reached
FROM unnest(ARRAY[
	'{"format": "pdf", "type": "report"}',
	'{"format": "pdf", "type": "report", "extra": true}',
	'{"format": "pdf"}',
	'{"type": "log"}',
	'{"format": "pdf", "x-tenant": 7}',
	'{"x-tenant": "7"}',
	'{"format": "doc"}',
	'{}']) AS h;
SELECT q, h FROM (
	SELECT 'q1' AS q, headers - 'x-exchange' - 'x-routing-key' AS h FROM mq.read('q1', 10)
	UNION ALL SELECT 'q2', headers - 'x-exchange' - 'x-routing-key' FROM mq.read('q2', 10)
	UNION ALL SELECT 'q3', headers - 'x-exchange' - 'x-routing-key' FROM mq.read('q3', 10)
	UNION ALL SELECT 'q4', headers - 'x-exchange' - 'x-routing-key' FROM mq.read('q4', 10)
) s ORDER BY q, h::text;
-- x- arguments are ignored by all/any; all with no other arguments matches all
SELECT mq.create_exchange('hx2', 'headers');
SELECT mq.bind('hx2', 'q1', '', '{"x-ignored": 1}');
SELECT mq.bind('hx2', 'q2', '', '{"x-match": "any"}');
SELECT mq.publish('hx2', '', '{}', '{"a": 1}') AS reached;
SELECT (SELECT count(*) FROM mq.read('q1', 10)) AS q1, (SELECT count(*) FROM mq.read('q2', 10)) AS q2;

-- exchange-to-exchange, cycles ----------------------------------------------------
SELECT mq.create_exchange('e1', 'fanout'), mq.create_exchange('e2', 'direct'),
	   mq.create_exchange('e3', 'topic');
SELECT mq.bind_exchange('e1', 'e2');
SELECT mq.bind_exchange('e2', 'e3', 'k.x');
SELECT mq.bind_exchange('e3', 'e1', '#');		-- a cycle: tolerated
SELECT mq.bind('e3', 'q1', 'k.*');
SELECT mq.bind('e2', 'q1', 'k.x');			-- q1 twice: still once
SELECT mq.bind('e1', 'q2');
SELECT mq.publish('e1', 'k.x', '{"via": "e1"}') AS reached;
SELECT mq.publish('e3', 'k.y', '{"via": "e3"}') AS reached;
SELECT q, body FROM (
	SELECT 'q1' AS q, body FROM mq.read('q1', 10)
	UNION ALL SELECT 'q2', body FROM mq.read('q2', 10)
) s ORDER BY q, body::text;

-- alternate exchanges, mandatory --------------------------------------------------
SELECT mq.create_queue('unrouted');
SELECT mq.create_exchange('catchall', 'fanout');
SELECT mq.bind('catchall', 'unrouted');
SELECT mq.create_exchange('ae_mid', 'direct', alternate_exchange => 'catchall');
SELECT mq.create_exchange('main', 'direct', alternate_exchange => 'ae_mid');
SELECT mq.bind('main', 'q1', 'known');
SELECT mq.publish('main', 'known', '{"n": 1}') AS reached;
SELECT mq.publish('main', 'unknown', '{"n": 2}') AS reached;	-- main -> ae_mid -> catchall
SELECT body, headers->>'x-exchange' AS exchange FROM mq.read('unrouted');
SELECT mq.publish('direct_x', 'nobody', '{}', mandatory => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.publish('direct_x', 'nobody', '{}', mandatory => false) AS reached;
SELECT exchange_name, type, alternate_exchange, unroutable FROM mq.exchanges ORDER BY 1;
-- an exchange may be its own alternate; that ends the chain
SELECT mq.create_exchange('selfish', 'direct', alternate_exchange => 'selfish');
SELECT mq.publish('selfish', 'x', '{}') AS reached;

-- publish options and transactions -------------------------------------------------
SELECT mq.publish('direct_x', 'red', '{"d": 1}', headers => '{"h": 1}', delay => '1 hour', priority => 3) AS reached;
SELECT queue_length, delayed FROM mq.metrics('q2');
SELECT mq.purge_queue('q1'), mq.purge_queue('q2');
BEGIN;
SELECT mq.publish('direct_x', 'red', '{"rolled": "back"}') AS reached;
ROLLBACK;
SELECT count(*) FROM mq.read('q1', 10);
-- dedup keys apply per queue
SELECT mq.publish('direct_x', 'red', '{"k": 1}', dedup_key => 'once') AS reached;
SELECT mq.publish('direct_x', 'red', '{"k": 2}', dedup_key => 'once') AS reached;
SELECT (SELECT count(*) FROM mq.read('q1', 10)) AS q1, (SELECT count(*) FROM mq.read('q2', 10)) AS q2;

-- publish_batch
SELECT * FROM mq.publish_batch('events', ARRAY['orders.eu.created', 'nothing', 'users.created'],
							   ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}']::jsonb[]);
-- with dedup and group keys, one per message, as send_batch takes them
SELECT * FROM mq.publish_batch('direct_x', ARRAY['red', 'red', 'red'],
							   ARRAY['{"b": 4}', '{"b": 5}', '{"b": 6}']::jsonb[],
							   dedup_keys => ARRAY['d1', 'd1', NULL], group_keys => ARRAY['g', NULL, 'g']);
SELECT body, group_key, dedup_key FROM mq.read('q1', 10) ORDER BY msg_id;
SELECT mq.publish_batch('direct_x', ARRAY['red'], ARRAY['{}']::jsonb[], dedup_keys => ARRAY['a', 'b']);
-- send's options in send's order, then mandatory (positional)
SELECT mq.publish('direct_x', 'nobody', '{}', NULL, '0', NULL, NULL, 0, true);
SELECT mq.publish('direct_x', 'red', '{"b": 7}', NULL, '0', NULL, NULL, 9, true) AS reached;
SELECT priority, body FROM mq.read('q1', 10);

-- the catalog views
SELECT source, destination, destination_type, binding_key, arguments FROM mq.bindings
WHERE source IN ('direct_x', 'e1', 'e2', 'e3', 'hx') ORDER BY 1, 2, 4, 5::text;

-- unbind, routing caches follow
SELECT mq.unbind('direct_x', 'q1', 'red');
SELECT mq.unbind('direct_x', 'q1', 'red');
SELECT mq.publish('direct_x', 'red', '{}') AS reached;
SELECT mq.unbind_exchange('e2', 'e3', 'k.x');
SELECT mq.unbind('hx', 'q2', '', '{"x-match": "any", "format": "pdf", "type": "log"}');
-- dropping a queue removes its bindings
SELECT count(*) FROM mq.bindings WHERE destination = 'q4';
SELECT mq.drop_queue('q4');
SELECT count(*) FROM mq.bindings WHERE destination = 'q4';
SELECT mq.publish('hx', '', '{}', '{"x-tenant": 7}') AS reached;

-- errors ---------------------------------------------------------------------------
SELECT mq.create_exchange('bad', 'stream');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_exchange('bad', NULL);
SELECT mq.create_exchange('direct_x', 'topic');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_exchange('bad name');
SELECT mq.create_exchange(NULL);
SELECT mq.create_exchange('bad', 'direct', alternate_exchange => 'nope');
SELECT mq.bind('nope', 'q1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.bind('direct_x', 'nope');
SELECT mq.bind('direct_x', 'q1', NULL);
SELECT mq.bind('hx', 'q1', '', '[1]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.bind('hx', 'q1', '', '{"x-match": "some"}');
SELECT mq.bind('hx', 'q1', '', '{"x-match": 1}');
SELECT mq.bind_exchange('e1', 'nope');
SELECT mq.unbind('nope', 'q1');
SELECT mq.publish('nope', 'k', '{}');
SELECT mq.publish('bad name', 'k', '{}');
SELECT mq.publish(NULL, 'k', '{}');
SELECT mq.publish('direct_x', NULL, '{}');
SELECT mq.publish('direct_x', 'k', NULL);
SELECT mq.publish('direct_x', 'k', '{}', headers => '[]');
SELECT mq.publish('direct_x', 'k', '{}', delay => '-1 s');
SELECT mq.publish_batch('direct_x', ARRAY['a'], ARRAY['{}', '{}']::jsonb[]);
SELECT mq.publish_batch('direct_x', ARRAY[]::text[], ARRAY[]::jsonb[]);
SELECT mq.publish_batch('direct_x', ARRAY[NULL], ARRAY['{}']::jsonb[]);
SELECT mq.publish_batch('direct_x', ARRAY[['a'], ['b']], ARRAY[['{}'], ['{}']]::jsonb[]);
SELECT mq.publish_batch('direct_x', ARRAY[['a'], ['b']], ARRAY['{}', '{}']::jsonb[]);
SELECT mq.drop_exchange('e1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.drop_exchange('catchall');
SELECT mq.drop_exchange('nope');
SELECT mq.drop_exchange('nope', if_exists => true);

-- hostile topic patterns: matching is linear in the key whatever the
-- pattern (runs of '#' and '#'s between words used to backtrack for ever,
-- deaf to cancellation); a statement timeout guards the test itself
SET statement_timeout = '20s';
SELECT mq._topic_matches('#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.x', repeat('a.', 60) || 'b') AS hash_run_x;
SELECT mq._topic_matches('#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.b', repeat('a.', 60) || 'b') AS hash_run_b;
SELECT mq._topic_matches('#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.c', repeat('a.', 120) || 'b') AS hashes_between_c;
SELECT mq._topic_matches('#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.b', repeat('a.', 120) || 'b') AS hashes_between_b;
SELECT mq._topic_matches('*.#.*.#.*.#.*.#.*', repeat('a.', 30) || 'b') AS stars_and_hashes;
SELECT mq.create_exchange('hostile', 'topic'), mq.create_queue('hq1'), mq.create_queue('hq2');
SELECT mq.bind('hostile', 'hq1', '#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.x');
SELECT mq.bind('hostile', 'hq2', '#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.x');
SELECT mq.publish('hostile', repeat('a.', 60) || 'b', '{}') AS reached;
SELECT mq.publish('hostile', repeat('a.', 60) || 'x', '{}') AS reached;
SELECT (SELECT count(*) FROM mq.read('hq1', 10)) AS hq1, (SELECT count(*) FROM mq.read('hq2', 10)) AS hq2;
RESET statement_timeout;
-- routing and binding keys are at most 255 bytes (AMQP's limit): 22023
SELECT mq.publish('hostile', repeat('a', 255), '{}') AS reached;
SELECT mq.publish('hostile', repeat('a', 256), '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.publish_batch('hostile', ARRAY['a', repeat('a.', 128)], ARRAY['{}', '{}']::jsonb[]);
SELECT mq.bind('hostile', 'hq1', repeat('a', 255)) AS bound;
SELECT mq.bind('hostile', 'hq1', repeat('a', 256));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- (a longer key bound before 0.2.0 can still be unbound)
SELECT mq.unbind('hostile', 'hq1', repeat('a', 256)) AS unbound;
SELECT mq.drop_exchange('hostile', cascade => true), mq.drop_queue('hq1'), mq.drop_queue('hq2');

-- drop with cascade removes bindings and alternate-exchange references
SELECT mq.drop_exchange('catchall', cascade => true);
SELECT exchange_name, alternate_exchange FROM mq.exchanges WHERE exchange_name = 'ae_mid';
SELECT mq.drop_exchange(x, cascade => true)
FROM unnest(ARRAY['direct_x', 'fan', 'events', 'hx', 'hx2', 'e1', 'e2', 'e3', 'ae_mid', 'main', 'selfish']) x;
SELECT count(*) FROM mq.exchanges;
SELECT count(*) FROM mq.bindings;
SELECT mq.drop_queue(q) FROM unnest(ARRAY['q1', 'q2', 'q3', 'unrouted']) q;
