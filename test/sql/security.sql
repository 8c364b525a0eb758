-- Privileges, injection and search_path hijacking.
\set SHOW_CONTEXT never

CREATE ROLE regress_mq_owner;
CREATE ROLE regress_mq_none;
CREATE ROLE regress_mq_sender;
CREATE ROLE regress_mq_reader;
CREATE ROLE regress_mq_team;
GRANT regress_mq_team TO regress_mq_reader;

-- an ordinary role creates a queue and an exchange: it owns them
SET ROLE regress_mq_owner;
SELECT mq.create_queue('secure');
SELECT mq.create_exchange('secure_x', 'fanout');
SELECT mq.bind('secure_x', 'secure');
SELECT mq.send('secure', '{"n": 1}') > 0 AS owner_sends;
SELECT count(*) FROM mq.read('secure', 1, '1 second');
SELECT mq.grant('secure', 'regress_mq_sender', 'send');
SELECT mq.grant('secure', 'regress_mq_team', 'read');	-- members inherit it
SELECT mq.grant_exchange('secure_x', 'regress_mq_sender', 'publish');
RESET ROLE;
SELECT object_type, object_name, grantee, privilege FROM mq.privileges ORDER BY 1, 2, 3, 4;

-- the tables stay closed to everybody but mq
SELECT 'mq.q_' || mq._queue_id('secure') AS storage \gset
SET ROLE regress_mq_owner;
SELECT count(*) FROM mq._queue;
SELECT has_table_privilege(:'storage', 'SELECT') AS can_read_storage,
	   has_table_privilege(:'storage', 'INSERT') AS can_write_storage;
SELECT count(*) FROM mq.queues;		-- the views are open
RESET ROLE;

-- a role with no privilege: 42501 naming the queue and the privilege
SET ROLE regress_mq_none;
SELECT mq.send('secure', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('secure', ARRAY['{}']::jsonb[]);
SELECT mq.read('secure');
SELECT mq.pop('secure');
SELECT mq.ack('secure', 1);
SELECT mq.ack_batch('secure', ARRAY[1]::bigint[]);
SELECT mq.nack('secure', 1);
SELECT mq.set_vt('secure', 1, '1 s');
SELECT mq.archive_batch('secure', ARRAY[1]::bigint[]);
SELECT mq.metrics('secure');
SELECT count(*) FROM mq.metrics_all();
SELECT mq.purge_queue('secure');
SELECT mq.alter_queue('secure', fifo => true);
SELECT mq.drop_queue('secure');
SELECT mq.create_queue('secure');
SELECT mq.publish('secure_x', '', '{}');
SELECT mq.bind('secure_x', 'secure', 'x');
SELECT mq.unbind('secure_x', 'secure');
SELECT mq.drop_exchange('secure_x');
SELECT mq.grant('secure', 'regress_mq_none', 'send');
SELECT mq.redrive('secure', 'secure');
SELECT mq.maintain();
SELECT mq._sweep('secure');
SELECT mq._announce('secure');
-- mq's internal functions are not for PUBLIC (mq._require_primary(NULL)
-- crashed the server); only mq's own SECURITY DEFINER functions call them
SELECT mq._require_primary(NULL);
SELECT mq._check_privilege('queue', 'secure', 'read');
SELECT mq._has_privilege('queue', 'secure', 'read');
SELECT mq._caller();
SELECT mq._check_name('x', 'queue');
SELECT mq._queue_id('secure');
SELECT mq._exchange_id('secure_x');
SELECT mq._binding_arguments(1, NULL);
SELECT mq._grantee('public');
SELECT mq._topic_matches('#', 'a');
SELECT p.oid::regprocedure AS executable_by_public
	FROM pg_proc p WHERE p.pronamespace = 'mq'::regnamespace
	AND p.proname LIKE '\_%' AND has_function_privilege('regress_mq_none', p.oid, 'EXECUTE');
-- a role may make its own queue, but not dead-letter into someone else's
SELECT mq.create_queue('mine', dead_letter_queue => 'secure');
SELECT mq.create_queue('mine');
SELECT mq.send('mine', '{}') > 0 AS own_queue;
-- a trigger sends as the role that changes the row
CREATE TEMP TABLE t_none (a int);
CREATE TRIGGER t_none AFTER INSERT ON t_none FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('secure');
INSERT INTO t_none VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE t_none;
SELECT mq.drop_queue('mine');
RESET ROLE;

-- a sender: send and publish, nothing else
SET ROLE regress_mq_sender;
SELECT mq.send('secure', '{"from": "sender"}') > 0 AS sent;
SELECT count(*) FROM mq.send_batch('secure', ARRAY['{"from": "sender"}']::jsonb[]);
SELECT mq.publish('secure_x', '', '{"from": "publisher"}') AS reached;
SELECT mq.read('secure');
SELECT mq.ack('secure', 1);
SELECT queue_name FROM mq.metrics('secure');	-- any privilege lets it watch
SELECT mq.purge_queue('secure');
RESET ROLE;

-- a reader (through a role it is a member of): read, pop, ack, nack, set_vt
SET ROLE regress_mq_reader;
SELECT mq.send('secure', '{}');
SELECT body FROM mq.read('secure', 10, '1 hour') ORDER BY msg_id;
SELECT mq.nack('secure', 2);
SELECT mq.set_vt('secure', 2, '1 hour') IS NOT NULL AS extended;
SELECT mq.ack('secure', 2);
SELECT count(*) FROM mq.pop('secure', 10);
SELECT queue_name, queue_length FROM mq.metrics_all();
SELECT mq.publish('secure_x', '', '{}');
RESET ROLE;

-- revoke takes effect at once; PUBLIC grants reach everybody
SET ROLE regress_mq_owner;
SELECT mq.revoke('secure', 'regress_mq_sender', 'send');
SELECT mq.grant('secure', 'public', 'send');
SELECT mq.grant('secure', 'nobody_at_all', 'send');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.grant('secure', 'regress_mq_none', 'publish');
SELECT mq.grant('secure', 'regress_mq_none', NULL);
SELECT mq.grant('secure', NULL, 'send');
SELECT mq.grant_exchange('secure_x', 'regress_mq_none', 'read');
RESET ROLE;
SET ROLE regress_mq_none;
SELECT mq.send('secure', '{"from": "public"}') > 0 AS public_sends;
RESET ROLE;
SET ROLE regress_mq_owner;
SELECT mq.revoke('secure', 'public', 'all');
SELECT mq.grant('secure', 'regress_mq_none', 'all');
RESET ROLE;
-- only 'public' means every role: "Public" is a role's name
CREATE ROLE "Public";
SET ROLE regress_mq_owner;
SELECT mq.grant('secure', 'PUBLIC', 'send');
SELECT mq.grant('secure', 'Public', 'send');
RESET ROLE;
SELECT object_name, grantee, privilege FROM mq.privileges WHERE grantee IN ('public', 'Public') ORDER BY 2;
SET ROLE regress_mq_owner;
SELECT mq.revoke('secure', 'Public', 'all');
RESET ROLE;
DROP ROLE "Public";
SELECT object_name, grantee, privilege FROM mq.privileges WHERE grantee = 'regress_mq_none' ORDER BY 3;
-- manage lets a role administer the queue
SET ROLE regress_mq_none;
SELECT mq.purge_queue('secure') >= 0 AS purged;
SELECT mq.alter_queue('secure', visibility_timeout => '1 minute');
RESET ROLE;

-- injection: names are validated before use, data only ever a parameter
SELECT mq.create_queue('inj');
SELECT mq.send('inj', '{"x": "''); DROP TABLE mq._queue; --"}', headers => '{"$$": ";"}',
			   dedup_key => '''; DELETE FROM mq._queue; --', group_key => '$$ $x$');
SELECT body, headers, dedup_key, group_key FROM mq.read('inj');
SELECT mq.create_exchange('inj_x', 'topic');
SELECT mq.bind('inj_x', 'inj', ''') OR 1=1; --');
SELECT mq.publish('inj_x', ''') OR 1=1; --', '{}');
SELECT mq.send('inj"; DROP TABLE mq._queue; --', '{}');
SELECT mq.send(E'inj\nx', '{}');
SELECT mq.send('inj.', '{}');
SELECT mq.publish('inj_x''', 'k', '{}');
SELECT count(*) FROM mq.queues;

-- every name argument of every function, with every kind of bad name:
-- always 22023 and nothing created
CREATE TEMP TABLE bad_names (name text);
INSERT INTO bad_names VALUES (''), ('a b'), ('a;b'), ('a''b'), ('a"b'), ('$$'), ('a$b'),
	(E'a\nb'), ('naïve'), ('名前'), ('a/b'), ('a\b'), (repeat('x', 49)), (repeat('y', 10240)),
	('x; DROP TABLE mq._queue; --'), ('%s'), ('a*'), ('#');
CREATE TEMP TABLE calls (call text);
INSERT INTO calls VALUES
	('mq.create_queue(%L)'), ('mq.alter_queue(%L, fifo => true)'), ('mq.drop_queue(%L)'),
	('mq.purge_queue(%L)'), ('mq.send(%L, ''{}'')'), ('mq.send_batch(%L, ARRAY[''{}''::jsonb])'),
	('mq.read(%L)'), ('mq.pop(%L)'), ('mq.ack(%L, 1)'), ('mq.ack_batch(%L, ARRAY[1]::bigint[])'),
	('mq.nack(%L, 1)'), ('mq.set_vt(%L, 1, ''1 s'')'), ('mq.archive_batch(%L, ARRAY[1]::bigint[])'),
	('mq.metrics(%L)'), ('mq.redrive(%L, ''inj'')'), ('mq.redrive(''inj'', %L)'),
	('mq.grant(%L, ''public'', ''send'')'), ('mq.revoke(%L, ''public'', ''send'')'),
	('mq.create_exchange(%L)'), ('mq.drop_exchange(%L)'), ('mq.bind(%L, ''inj'')'),
	('mq.bind(''inj_x'', %L)'), ('mq.bind_exchange(%L, ''inj_x'')'), ('mq.bind_exchange(''inj_x'', %L)'),
	('mq.unbind(%L, ''inj'')'), ('mq.unbind_exchange(''inj_x'', %L)'),
	('mq.publish(%L, ''k'', ''{}'')'), ('mq.publish_batch(%L, ARRAY[''k''], ARRAY[''{}''::jsonb])'),
	('mq.grant_exchange(%L, ''public'', ''publish'')'),
	('mq.create_exchange(''ok'', alternate_exchange => %L)');
DO $$
DECLARE
	c record;
	n record;
	state text;
	failures int := 0;
	tries int := 0;
BEGIN
	FOR c IN SELECT call FROM calls LOOP
		FOR n IN SELECT name FROM bad_names LOOP
			tries := tries + 1;
			BEGIN
				EXECUTE 'SELECT ' || format(c.call, n.name);
				RAISE NOTICE '% accepted %', c.call, left(n.name, 20);
				failures := failures + 1;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
				IF state <> '22023' THEN
					RAISE NOTICE '% with % gave %', c.call, left(n.name, 20), state;
					failures := failures + 1;
				END IF;
			END;
		END LOOP;
	END LOOP;
	RAISE NOTICE '% bad-name calls, % not refused with 22023', tries, failures;
END $$;
SELECT count(*) FROM mq.queues;
SELECT count(*) FROM mq.exchanges;
-- a name that looks like SQL is only a name: its storage is named by id
SELECT mq.create_queue('mq.q_1');
SELECT mq.send('mq.q_1', '{"safe": true}') > 0 AS sent;
SELECT body FROM mq.read('mq.q_1');
SELECT mq.drop_queue('mq.q_1');

-- search_path hijacking: hostile functions and operators in a schema put
-- before pg_catalog must never be called by mq
CREATE SCHEMA evil;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked now()'; END $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked clock_timestamp()'; END $$;
CREATE FUNCTION evil.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked jsonb_build_object()'; END $$;
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked count()'; END $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked unnest()'; END $$;
CREATE FUNCTION evil.bigint_eq(bigint, bigint) RETURNS bool LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked = on bigint'; END $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.bigint_eq);
CREATE FUNCTION evil.ts_le(timestamptz, timestamptz) RETURNS bool LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked <= on timestamptz'; END $$;
CREATE OPERATOR evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.ts_le);
CREATE FUNCTION evil.jsonb_cat(jsonb, jsonb) RETURNS jsonb LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked || on jsonb'; END $$;
CREATE OPERATOR evil.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = evil.jsonb_cat);
CREATE TYPE evil.jsonb AS (x int);
SET search_path = evil, pg_catalog, public;
SELECT mq.create_queue('hijack', max_receives => 1, message_ttl => '1 hour',
					   max_length => 100, fifo => true, archive => true);
SELECT mq.send('hijack', '{"n": 1}', dedup_key => 'k', group_key => 'g') AS h1 \gset
SELECT mq.send('hijack', '{"n": 1}', dedup_key => 'k') = :h1 AS deduped;
SELECT count(*) FROM mq.send_batch('hijack', ARRAY['{"n": 2}', '{"n": 3}']::pg_catalog.jsonb[]);
SELECT count(*) FROM mq.read('hijack', 10, '1 millisecond');
SELECT pg_sleep(0.05);
SELECT count(*) FROM mq.read('hijack', 10);		-- dead-letters (x-death headers)
SELECT mq.publish('inj_x', 'a.b', '{}', headers => '{"h": 1}');
SELECT queue_length, archive_length, dead_lettered FROM mq.metrics('hijack');
SELECT count(*) FROM mq.metrics_all();
SELECT count(*) FROM mq.maintain();
SELECT mq.ack('hijack', 1), mq.nack('hijack', 1), mq.set_vt('hijack', 1, '1 s') IS NULL;
SELECT count(*) FROM mq.pop('hijack', 5);
SELECT count(*) FROM mq.archive_batch('hijack', ARRAY[1, 2]::bigint[]);
SELECT mq.drop_queue('hijack');
RESET search_path;

-- size limits: 54000 with a hint
SET mq.max_message_size = 100;
SELECT mq.send('inj', jsonb_build_object('big', repeat('x', 200)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('inj', ARRAY[jsonb_build_object('big', repeat('x', 200))]);
SELECT mq.publish('inj_x', 'k', jsonb_build_object('big', repeat('x', 200)));
RESET mq.max_message_size;
SET mq.max_headers_size = 100;
SELECT mq.send('inj', '{}', headers => jsonb_build_object('big', repeat('x', 200)));
SELECT mq.send_batch('inj', ARRAY['{}']::jsonb[], headers => ARRAY[jsonb_build_object('big', repeat('x', 200))]);
RESET mq.max_headers_size;
-- only superusers may raise them
SET ROLE regress_mq_none;
SET mq.max_message_size = '10MB';
RESET ROLE;

-- the role that counts is the current user, as PostgreSQL's own checks
-- have it: a SECURITY DEFINER function of another role, called by the
-- queue's owner, acts as that role
CREATE ROLE regress_mq_attacker;
CREATE SCHEMA trap AUTHORIZATION regress_mq_attacker;
SET ROLE regress_mq_attacker;
GRANT USAGE ON SCHEMA trap TO PUBLIC;
CREATE FUNCTION trap.run(stmt text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'done';
END $$;
CREATE FUNCTION trap.seen() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	AS 'SELECT count(*) FROM mq.metrics_all()';
RESET ROLE;
SET ROLE regress_mq_owner;
SELECT trap.run($$SELECT mq.grant('secure', 'regress_mq_attacker', 'all')$$);
SELECT trap.run($$SELECT mq.revoke('secure', 'regress_mq_sender', 'send')$$);
SELECT trap.run($$SELECT mq.grant_exchange('secure_x', 'regress_mq_attacker', 'all')$$);
SELECT trap.run($$SELECT mq.alter_queue('secure', max_length => 1)$$);
SELECT trap.run($$SELECT mq.purge_queue('secure')$$);
SELECT trap.run($$SELECT mq.drop_queue('secure')$$);
SELECT trap.run($$SELECT mq.metrics('secure')$$);
SELECT trap.run($$SELECT mq.unbind('secure_x', 'secure')$$);
SELECT trap.run($$SELECT mq.drop_exchange('secure_x')$$);
SELECT trap.run($$SELECT mq.read('secure')$$);
-- a queue it creates is its own, not the caller's
SELECT trap.run($$SELECT mq.create_queue('trapped')$$);
RESET ROLE;
SELECT queue_name, owner FROM mq.queues WHERE queue_name = 'trapped';
-- metrics_all() lists the queues of the role that counts
SET ROLE regress_mq_owner;
SELECT count(*) AS owner_sees, trap.seen() AS attacker_sees FROM mq.metrics_all();
RESET ROLE;
SELECT mq.drop_queue('trapped');

-- an index expression that ANALYZE (here a superuser's; autovacuum's too)
-- evaluates runs as the table's owner: it gets nothing either
SET ROLE regress_mq_attacker;
CREATE TABLE trap.t (x int);
CREATE FUNCTION trap.sneaky(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	BEGIN
		PERFORM mq.grant('secure', 'regress_mq_attacker', 'all');
	EXCEPTION WHEN insufficient_privilege THEN
		NULL;
	END;
	RETURN x;
END $$;
CREATE INDEX ON trap.t (trap.sneaky(x));
INSERT INTO trap.t SELECT generate_series(1, 20);
RESET ROLE;
ANALYZE trap.t;
SELECT count(*) AS attacker_grants FROM mq.privileges WHERE grantee = 'regress_mq_attacker';
DROP SCHEMA trap CASCADE;
DROP ROLE regress_mq_attacker;

-- LISTEN on a queue's channel needs the read privilege (a listener learns
-- when messages arrive), and the queue must exist
SET ROLE regress_mq_sender;
LISTEN "mq.secure";
\echo SQLSTATE :LAST_ERROR_SQLSTATE
LISTEN "mq.no_such_queue";
LISTEN "mq.Bad Name";
LISTEN not_an_mq_channel;		-- other channels are PostgreSQL's business
RESET ROLE;
SET ROLE regress_mq_reader;		-- read through regress_mq_team
LISTEN "mq.secure";
UNLISTEN *;
RESET ROLE;

-- roles that mq names: DROP ROLE refuses while a role owns queues or
-- exchanges or holds privileges on them (pg_shdepend, as for tables);
-- REASSIGN OWNED and DROP OWNED deal with mq's objects too
CREATE ROLE regress_mq_leaver;
CREATE ROLE regress_mq_heir;
SET ROLE regress_mq_leaver;
SELECT mq.create_queue('leaver_dlq');
SELECT mq.create_queue('leaver_q', dead_letter_queue => 'leaver_dlq', max_receives => 3);
SELECT mq.create_exchange('leaver_x');
SELECT mq.bind('leaver_x', 'leaver_q');
RESET ROLE;
SELECT mq.grant('secure', 'regress_mq_leaver', 'send');
SELECT refobjid::regrole AS role, deptype FROM pg_shdepend
	WHERE classid = 'pg_class'::regclass AND objid = 'mq._queue'::regclass
	  AND refobjid::regrole::text LIKE 'regress_mq_%' ORDER BY 1::text;
DROP ROLE regress_mq_leaver;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP ROLE regress_mq_heir, regress_mq_leaver;	-- none is dropped
SELECT count(*) AS roles_left FROM pg_roles WHERE rolname IN ('regress_mq_leaver', 'regress_mq_heir');
REASSIGN OWNED BY regress_mq_leaver TO regress_mq_heir;
SELECT queue_name, owner FROM mq.queues WHERE queue_name LIKE 'leaver%' ORDER BY 1;
SELECT exchange_name, owner FROM mq.exchanges WHERE exchange_name LIKE 'leaver%';
DROP ROLE regress_mq_leaver;	-- still holds a privilege
DROP OWNED BY regress_mq_leaver;
SELECT count(*) AS leaver_grants FROM mq.privileges WHERE grantee = 'regress_mq_leaver';
DROP ROLE regress_mq_leaver;
-- DROP OWNED drops the queues and exchanges, dead-letter queues last
DROP OWNED BY regress_mq_heir;
SELECT count(*) AS heir_queues FROM mq.queues WHERE owner = 'regress_mq_heir';
SELECT count(*) AS heir_exchanges FROM mq.exchanges WHERE owner = 'regress_mq_heir';
DROP ROLE regress_mq_heir;
-- ... and the dead-letter queue of another role's queue, which loses that
-- setting
CREATE ROLE regress_mq_leaver;
SET ROLE regress_mq_leaver;
SELECT mq.create_queue('leaver_dlq');
SELECT mq.grant('leaver_dlq', 'public', 'send');
RESET ROLE;
SELECT mq.create_queue('kept_q', dead_letter_queue => 'leaver_dlq', max_receives => 3);
DROP OWNED BY regress_mq_leaver;
SELECT queue_name, dead_letter_queue FROM mq.queues WHERE queue_name IN ('kept_q', 'leaver_dlq');
SELECT mq.drop_queue('kept_q');
DROP ROLE regress_mq_leaver;
SELECT count(*) AS dependencies_left FROM pg_shdepend
	WHERE classid = 'pg_class'::regclass AND objid = 'mq._queue'::regclass
	  AND refobjid::regrole::text IN ('regress_mq_leaver', 'regress_mq_heir');

-- clean up
DROP SCHEMA evil CASCADE;
SELECT mq.drop_exchange('inj_x', cascade => true), mq.drop_exchange('secure_x', cascade => true);
SELECT mq.drop_queue('inj'), mq.drop_queue('secure');
SELECT count(*) FROM mq.privileges;
DROP ROLE regress_mq_owner, regress_mq_none, regress_mq_sender, regress_mq_reader, regress_mq_team;

-- role dependencies are recorded as the transaction commits, and before a
-- DROP ROLE in it: one that a savepoint undid is recorded again at commit
CREATE ROLE sp_reader;
CREATE ROLE sp_other;
BEGIN;
SELECT mq.create_queue('sp_q');
SELECT mq.grant('sp_q', 'sp_reader', 'read');
SAVEPOINT s;
DROP ROLE sp_other;
ROLLBACK TO s;
COMMIT;
SELECT count(*) AS sp_reader_dependencies FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
	WHERE r.rolname = 'sp_reader';
DROP ROLE sp_reader;
SELECT mq.drop_queue('sp_q');
DROP ROLE sp_reader, sp_other;
