-- Every function in schema mq, called with NULL in each argument (and with
-- an empty, a huge and a malformed value), as a role without grants and as
-- a superuser: no call may crash the server or fail with an internal error
-- (XX000).  Each call runs in a subtransaction that is rolled back, so the
-- calls do not change what the next one finds.
SET client_min_messages = warning;
SELECT backend_start AS checkpointer_start FROM pg_stat_activity
	WHERE backend_type = 'checkpointer' \gset
SELECT mq.create_queue('nq', max_receives => 3, dedup_window => '1 minute');
SELECT mq.create_queue('nq_dlq');
SELECT mq.create_exchange('nx', 'topic');
SELECT mq.bind('nx', 'nq', 'a.#');
SELECT mq.send('nq', '{"n": 1}');
CREATE ROLE mq_nobody;

CREATE TABLE null_calls (who text, fn text, call text, sqlstate text, message text);
GRANT INSERT ON null_calls TO mq_nobody;

CREATE FUNCTION pg_temp.call_all(who text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	f record;
	k int;
	v int;
	args text[];
	call text;
	state text;
	msg text;
	variants text[] := ARRAY['null', 'empty', 'huge', 'malformed'];
BEGIN
	FOR f IN
		SELECT p.oid, p.proname, p.proargnames,
			   string_to_array(p.proargtypes::text, ' ')::oid[] AS types,
			   p.pronargs, p.prokind
		FROM pg_proc p
		WHERE p.pronamespace = 'mq'::regnamespace
		  AND p.prorettype <> 'trigger'::regtype
		ORDER BY p.proname, p.oid
	LOOP
		FOR k IN 0 .. greatest(f.pronargs - 1, 0) LOOP
			FOR v IN 1 .. CASE WHEN f.pronargs = 0 THEN 1 ELSE 4 END LOOP
				args := ARRAY[]::text[];
				FOR i IN 0 .. f.pronargs - 1 LOOP
					args := args || pg_temp.arg_value(
						f.proargnames[i + 1], f.types[i + 1],
						CASE WHEN i = k THEN variants[v] ELSE 'plain' END);
				END LOOP;
				call := format('SELECT %s(%s)', f.oid::regproc, array_to_string(args, ', '));
				BEGIN
					EXECUTE call;
					RAISE SQLSTATE 'MQOK0';
				EXCEPTION WHEN OTHERS THEN
					state := SQLSTATE;
					msg := SQLERRM;
				END;
				INSERT INTO null_calls
					VALUES (who, f.proname, left(call, 200), state, left(msg, 200));
			END LOOP;
		END LOOP;
	END LOOP;
END;
$$;

-- a value for an argument of that name and type: plain (one that works),
-- null, empty, huge or malformed
CREATE FUNCTION pg_temp.arg_value(name text, type oid, variant text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t text := format_type(type, NULL);
BEGIN
	IF variant = 'null' THEN
		RETURN 'NULL::' || t;
	END IF;
	IF t = 'text' THEN
		RETURN quote_literal(CASE variant
			WHEN 'empty' THEN ''
			WHEN 'huge' THEN repeat('x', 100000)
			WHEN 'malformed' THEN E'a\'; DROP TABLE null_calls; --\n'
			ELSE CASE
				WHEN name IN ('exchange', 'source') THEN 'nx'
				WHEN name = 'destination' THEN 'nq'
				WHEN name IN ('kind', 'object_type', 'dest_kind') THEN 'queue'
				WHEN name = 'privilege' THEN 'read'
				WHEN name = 'role' THEN 'mq_nobody'
				WHEN name = 'type' THEN 'topic'
				WHEN name = 'overflow' THEN 'reject_publish'
				WHEN name = 'dead_letter_queue' THEN 'nq_dlq'
				WHEN name IN ('routing_key', 'binding_key', 'pattern') THEN 'a.b'
				WHEN name = 'what' THEN 'test'
				WHEN name LIKE '%key' THEN 'k'
				ELSE 'nq' END
			END) || '::text';
	ELSIF t = 'text[]' THEN
		RETURN quote_literal(CASE variant
			WHEN 'empty' THEN '{}'
			WHEN 'huge' THEN '{' || repeat('x,', 20000) || 'x}'
			WHEN 'malformed' THEN '{{a},{b}}'
			ELSE '{a.b}' END) || '::text[]';
	ELSIF t = 'jsonb' THEN
		RETURN quote_literal(CASE variant
			WHEN 'empty' THEN '{}'
			WHEN 'huge' THEN jsonb_build_object('x', repeat('x', 2000000))::text
			WHEN 'malformed' THEN '[1, 2]'
			ELSE '{}' END) || '::jsonb';
	ELSIF t = 'jsonb[]' THEN
		RETURN quote_literal(CASE variant
			WHEN 'empty' THEN '{}'
			WHEN 'huge' THEN '{' || repeat('"{}",', 20000) || '"{}"}'
			WHEN 'malformed' THEN '{{"{}"},{"{}"}}'
			ELSE '{"{}"}' END) || '::jsonb[]';
	ELSIF t = 'bigint[]' THEN
		RETURN quote_literal(CASE variant
			WHEN 'empty' THEN '{}'
			WHEN 'huge' THEN '{' || repeat('1,', 20000) || '1}'
			WHEN 'malformed' THEN '{{1},{2}}'
			ELSE '{1}' END) || '::bigint[]';
	ELSIF t = 'interval' THEN
		RETURN quote_literal(CASE variant
			WHEN 'empty' THEN '0'
			WHEN 'huge' THEN '178000000 years'
			WHEN 'malformed' THEN '-1 s'
			ELSE CASE WHEN name = 'wait' THEN '0' ELSE '1 s' END END) || '::interval';
	ELSIF t IN ('integer', 'bigint', 'smallint') THEN
		RETURN CASE variant
			WHEN 'empty' THEN '0'
			WHEN 'huge' THEN '2147483647'
			WHEN 'malformed' THEN '-1'
			ELSE '1' END || '::' || t;
	ELSIF t = 'boolean' THEN
		RETURN 'false';
	ELSIF t = 'oid' THEN
		RETURN CASE variant WHEN 'plain' THEN '''mq_nobody''::regrole::oid' ELSE '0::oid' END;
	ELSIF t = 'mq._queue' THEN
		RETURN '(SELECT q FROM mq._queue q LIMIT 1)';
	END IF;
	RETURN 'NULL::' || t;
END;
$$;

SET ROLE mq_nobody;
SELECT pg_temp.call_all('no grants');
RESET ROLE;
SELECT pg_temp.call_all('superuser');

-- every function was called, both ways
SELECT who, count(*) > 300 AS many_calls, count(DISTINCT fn) > 40 AS every_function
	FROM null_calls GROUP BY who ORDER BY who;
-- every call reached its function (none was "does not exist", 42883)
SELECT count(*) AS calls_not_found FROM null_calls WHERE sqlstate = '42883';
-- no internal errors and no crash (a crash ends this session with an error)
SELECT who, fn, call, sqlstate, message FROM null_calls
	WHERE sqlstate IN ('XX000', 'XX001', 'XX002') ORDER BY 1, 2, 3;
-- the server did not restart
SELECT backend_start = :'checkpointer_start' AS no_restart FROM pg_stat_activity
	WHERE backend_type = 'checkpointer';
-- what a role without grants got, by SQLSTATE class
SELECT left(sqlstate, 2) AS class, count(*) > 0 AS seen FROM null_calls
	WHERE who = 'no grants' GROUP BY 1 ORDER BY 1;

DROP TABLE null_calls;
DROP ROLE mq_nobody;
SELECT mq.drop_queue('nq');
SELECT mq.drop_exchange('nx');
SELECT mq.drop_queue('nq_dlq');
