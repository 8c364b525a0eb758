/* mq--0.1.0--0.2.0.sql: update the mq extension from 0.1.0 to 0.2.0 */

\echo Use "ALTER EXTENSION mq UPDATE TO '0.2.0'" to load this file. \quit

/*
 * Messages put into a queue by SQL that mq does not see (mq.redrive()) are
 * announced: the queue's scan hint is reset and waiting readers are woken at
 * commit (delivery.c).
 */
CREATE FUNCTION mq._announce(queue text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_announce' LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION mq._announce(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION mq.redrive(dead_letter_queue text, target text,
						   max_messages bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.redrive()') IS NULL;
	src int := mq._queue_id(dead_letter_queue);
	dst int;
	n bigint;
BEGIN
	IF target IS NULL THEN
		RAISE EXCEPTION 'target queue name must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	dst := mq._queue_id(target);
	PERFORM mq._check_privilege('queue', dead_letter_queue, 'read');
	PERFORM mq._check_privilege('queue', target, 'send');
	IF dst = src THEN
		RAISE EXCEPTION 'cannot redrive queue "%" into itself', target
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Redrive a dead-letter queue into the queue its messages came from.';
	END IF;
	IF max_messages < 0 THEN
		RAISE EXCEPTION 'max_messages must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give a count, or NULL to move every message.';
	END IF;
	/* oldest first, skipping messages that a reader of the DLQ holds */
	EXECUTE format($q$
		WITH c AS (SELECT msg_id FROM mq.%1$I
				   WHERE read_ct = 0 OR vt <= clock_timestamp()
				   ORDER BY msg_id LIMIT $1 FOR UPDATE SKIP LOCKED),
			 d AS (DELETE FROM mq.%1$I m USING c WHERE m.msg_id = c.msg_id
				   RETURNING m.*),
			 i AS (INSERT INTO mq.%2$I (enqueued_at, vt, priority, group_key, headers, body)
				   SELECT clock_timestamp(), clock_timestamp(), d.priority,
						  d.group_key, d.headers, d.body
				   FROM d ORDER BY d.msg_id RETURNING 1)
		SELECT count(*) FROM i$q$, 'q_' || src, 'q_' || dst)
		INTO n USING max_messages;
	/* readers must not pass the new rows on a scan hint; wake waiting ones */
	IF n > 0 THEN
		PERFORM mq._announce(target);
	END IF;
	RETURN n;
END;
$$;

/*
 * Binding keys are at most 255 bytes, as routing keys are (routing.c): the
 * bound keeps topic matching short.
 */
CREATE OR REPLACE FUNCTION mq._change_binding(source text, dest_kind text, destination text,
								   binding_key text, arguments jsonb, add bool)
RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src int := mq._exchange_id(source);
	qid int;
	xid int;
	args jsonb;
BEGIN
	IF dest_kind = 'queue' THEN
		qid := mq._queue_id(destination);
	ELSE
		xid := mq._exchange_id(destination);
	END IF;
	PERFORM mq._check_privilege('exchange', source, 'manage');
	PERFORM mq._check_privilege(dest_kind, destination, 'manage');
	IF binding_key IS NULL THEN
		IF NOT add THEN
			RETURN false;
		END IF;
		RAISE EXCEPTION 'binding_key must not be null'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Use '''' for no key.';
	END IF;
	/* MQ_KEY_MAXLEN in routing.h: routing keys have the same limit */
	IF add AND octet_length(binding_key) > 255 THEN
		RAISE EXCEPTION 'binding key is too long'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The binding key is %s bytes long, more than the limit of 255.',
								  octet_length(binding_key)),
				  HINT = 'Routing and binding keys are at most 255 bytes, as in AMQP.';
	END IF;
	args := mq._binding_arguments(src, arguments);
	IF add THEN
		INSERT INTO mq._binding (source_id, queue_id, exchange_id, binding_key, arguments)
			VALUES (src, qid, xid, binding_key, args)
			ON CONFLICT DO NOTHING;
		RETURN true;
	END IF;
	DELETE FROM mq._binding b
		WHERE b.source_id = src
		  AND b.queue_id IS NOT DISTINCT FROM qid
		  AND b.exchange_id IS NOT DISTINCT FROM xid
		  AND b.binding_key = _change_binding.binding_key
		  AND b.arguments = args;
	RETURN FOUND;
END;
$$;

/*
 * 'public' means every role; any other spelling is a role's name ("Public"
 * used to mean every role too).
 */
CREATE OR REPLACE FUNCTION mq._grantee(role text) RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r oid;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Use ''public'' for every role.';
	END IF;
	/* only the keyword: a role may be named "Public" or "PUBLIC" */
	IF role = 'public' THEN
		RETURN 0;
	END IF;
	SELECT a.oid INTO r FROM pg_authid a WHERE a.rolname = role;
	IF NOT FOUND AND lower(role) = 'public' THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object',
				  HINT = 'Use ''public'' (in lower case) for every role.';
	ELSIF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', left(role, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN r;
END;
$$;

/* the views show who owns a queue or an exchange */
CREATE OR REPLACE VIEW mq.queues AS
	SELECT q.queue_name, q.visibility_timeout, q.max_receives,
		   d.queue_name AS dead_letter_queue, q.message_ttl, q.max_length,
		   q.overflow, q.fifo, q.dedup_window, q.archive, q.retention,
		   q.unlogged, q.notify, q.created_at, a.rolname AS owner
	FROM mq._queue q LEFT JOIN mq._queue d
		ON d.queue_id OPERATOR(pg_catalog.=) q.dead_letter_queue_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) q.owner;

CREATE OR REPLACE VIEW mq.exchanges AS
	SELECT e.exchange_name, e.type, ae.exchange_name AS alternate_exchange,
		   s.unroutable, e.created_at, a.rolname AS owner
	FROM mq._exchange e
		LEFT JOIN mq._exchange ae
			ON ae.exchange_id OPERATOR(pg_catalog.=) e.alternate_exchange_id
		LEFT JOIN mq._exchange_stats s
			ON s.exchange_id OPERATOR(pg_catalog.=) e.exchange_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) e.owner;

/*
 * Management functions record the role that called them (privilege.c):
 * each is a C entry point, mq_manage(), in front of its former SECURITY
 * DEFINER body, renamed mq._<name>() and closed to PUBLIC.  0.1.0 asked
 * GetOuterUserId(), which is the session's role even inside a SECURITY
 * DEFINER function or an index expression that ANALYZE evaluates as the
 * table's owner: such code could grant itself another role's queues.
 */
ALTER FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text, bool,
							   interval, bool, interval, bool, bool) RENAME TO _create_queue;
ALTER FUNCTION mq.alter_queue(text, interval, int, text, interval, bigint, text, bool,
							  interval, bool, interval, bool, bool) RENAME TO _alter_queue;
ALTER FUNCTION mq.drop_queue(text, bool) RENAME TO _drop_queue;
ALTER FUNCTION mq.purge_queue(text) RENAME TO _purge_queue;
ALTER FUNCTION mq.redrive(text, text, bigint) RENAME TO _redrive;
ALTER FUNCTION mq.maintain() RENAME TO _maintain;
ALTER FUNCTION mq.metrics(text) RENAME TO _metrics;
ALTER FUNCTION mq.metrics_all() RENAME TO _metrics_all;
ALTER FUNCTION mq.metrics_prometheus() RENAME TO _metrics_prometheus;
ALTER FUNCTION mq.create_exchange(text, text, text) RENAME TO _create_exchange;
ALTER FUNCTION mq.drop_exchange(text, bool, bool) RENAME TO _drop_exchange;
ALTER FUNCTION mq.bind(text, text, text, jsonb) RENAME TO _bind;
ALTER FUNCTION mq.bind_exchange(text, text, text, jsonb) RENAME TO _bind_exchange;
ALTER FUNCTION mq.unbind(text, text, text, jsonb) RENAME TO _unbind;
ALTER FUNCTION mq.unbind_exchange(text, text, text, jsonb) RENAME TO _unbind_exchange;
ALTER FUNCTION mq.grant(text, text, text) RENAME TO _grant;
ALTER FUNCTION mq.revoke(text, text, text) RENAME TO _revoke;
ALTER FUNCTION mq.grant_exchange(text, text, text) RENAME TO _grant_exchange;
ALTER FUNCTION mq.revoke_exchange(text, text, text) RENAME TO _revoke_exchange;

CREATE FUNCTION mq.create_queue(
	queue text,
	visibility_timeout interval DEFAULT '30 seconds',
	max_receives int DEFAULT NULL,
	dead_letter_queue text DEFAULT NULL,
	message_ttl interval DEFAULT NULL,
	max_length bigint DEFAULT NULL,
	overflow text DEFAULT 'reject_publish',
	fifo bool DEFAULT false,
	dedup_window interval DEFAULT '5 minutes',
	archive bool DEFAULT false,
	retention interval DEFAULT NULL,
	unlogged bool DEFAULT false,
	notify bool DEFAULT false)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.alter_queue(
	queue text,
	visibility_timeout interval DEFAULT NULL,
	max_receives int DEFAULT NULL,
	dead_letter_queue text DEFAULT NULL,
	message_ttl interval DEFAULT NULL,
	max_length bigint DEFAULT NULL,
	overflow text DEFAULT NULL,
	fifo bool DEFAULT NULL,
	dedup_window interval DEFAULT NULL,
	archive bool DEFAULT NULL,
	retention interval DEFAULT NULL,
	unlogged bool DEFAULT NULL,
	notify bool DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.drop_queue(queue text, if_exists bool DEFAULT false)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.purge_queue(queue text)
RETURNS bigint AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.redrive(dead_letter_queue text, target text,
						   max_messages bigint DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.maintain(
	OUT queue_name text,
	OUT dead_lettered bigint,
	OUT expired bigint,
	OUT archive_deleted bigint,
	OUT dedup_keys_pruned bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.metrics(queue text)
RETURNS mq.queue_metrics AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.metrics_all()
RETURNS SETOF mq.queue_metrics AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.metrics_prometheus()
RETURNS text AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C STABLE;

CREATE FUNCTION mq.create_exchange(exchange text, type text DEFAULT 'direct',
								   alternate_exchange text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.drop_exchange(exchange text, if_exists bool DEFAULT false,
								 cascade bool DEFAULT false)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.bind(exchange text, queue text, binding_key text DEFAULT '',
						arguments jsonb DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.bind_exchange(source text, destination text,
								 binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.unbind(exchange text, queue text, binding_key text DEFAULT '',
						  arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.unbind_exchange(source text, destination text,
								   binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.grant(queue text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.revoke(queue text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.grant_exchange(exchange text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.revoke_exchange(exchange text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;

REVOKE EXECUTE ON FUNCTION mq.maintain() FROM PUBLIC;

/* bodies call bodies: a management function called from one would see mq's owner */
CREATE OR REPLACE FUNCTION mq._metrics_all() RETURNS SETOF mq.queue_metrics
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT m.* FROM mq._queue q, LATERAL mq._metrics(q.queue_name) m
	WHERE mq._has_privilege('queue', q.queue_name, 'any')
	ORDER BY q.queue_name;
$$;

CREATE OR REPLACE FUNCTION mq._metrics_prometheus() RETURNS text
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	out text := '';
	m record;
	metric record;
BEGIN
	FOR metric IN SELECT * FROM (VALUES
		(1, 'mq_queue_length', 'gauge', 'Messages in the queue (visible, leased or delayed).'),
		(2, 'mq_queue_visible', 'gauge', 'Messages a read would get now.'),
		(3, 'mq_queue_in_flight', 'gauge', 'Messages received and now leased.'),
		(4, 'mq_queue_delayed', 'gauge', 'Messages not yet visible, never received.'),
		(5, 'mq_queue_oldest_message_age_seconds', 'gauge', 'Age of the oldest message.'),
		(6, 'mq_queue_archive_length', 'gauge', 'Messages in the archive.'),
		(7, 'mq_queue_dead_lettered_total', 'counter', 'Messages dead-lettered for max_receives.'),
		(8, 'mq_queue_expired_total', 'counter', 'Messages dead-lettered for message_ttl.'),
		(9, 'mq_queue_dropped_total', 'counter', 'Messages dropped by overflow drop_head.')
	) AS v(ord, name, type, help) ORDER BY ord
	LOOP
		out := out || format(E'# HELP %s %s\n# TYPE %s %s\n', metric.name, metric.help,
							 metric.name, metric.type);
		FOR m IN SELECT * FROM mq._metrics_all() LOOP
			out := out || format(E'%s{queue="%s"} %s\n', metric.name, m.queue_name,
				coalesce(CASE metric.ord
					WHEN 1 THEN m.queue_length::text
					WHEN 2 THEN m.visible::text
					WHEN 3 THEN m.in_flight::text
					WHEN 4 THEN m.delayed::text
					WHEN 5 THEN coalesce(extract(epoch FROM m.oldest_msg_age), 0)::text
					WHEN 6 THEN m.archive_length::text
					WHEN 7 THEN m.dead_lettered::text
					WHEN 8 THEN m.expired::text
					WHEN 9 THEN m.dropped::text END, 'NaN'));
		END LOOP;
	END LOOP;
	RETURN out;
END;
$$;

/*
 * Errors echo what was given clipped to 64 characters, as names are;
 * binding arguments are at most 1 kB (they are part of a unique index).
 */
CREATE OR REPLACE FUNCTION mq._create_exchange(exchange text, type text DEFAULT 'direct',
								   alternate_exchange text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.create_exchange()') IS NULL;
	old mq._exchange;
	ae int;
	xid int;
BEGIN
	PERFORM mq._check_name(exchange, 'exchange');
	IF type IS NULL THEN
		RAISE EXCEPTION 'exchange type must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Use ''direct'', ''fanout'', ''topic'' or ''headers''.';
	END IF;
	IF type NOT IN ('direct', 'fanout', 'topic', 'headers') THEN
		RAISE EXCEPTION 'invalid exchange type "%"', left(type, 64)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''direct'', ''fanout'', ''topic'' or ''headers''.';
	END IF;
	LOCK TABLE mq._exchange IN SHARE ROW EXCLUSIVE MODE;
	IF alternate_exchange IS NOT NULL AND alternate_exchange <> exchange THEN
		ae := mq._exchange_id(alternate_exchange);
	END IF;

	IF ae IS NOT NULL THEN
		PERFORM mq._check_privilege('exchange', alternate_exchange, 'publish');
	END IF;
	SELECT * INTO old FROM mq._exchange e WHERE e.exchange_name = exchange;
	IF FOUND THEN
		PERFORM mq._check_privilege('exchange', exchange, 'any');
		IF old.type = type AND old.alternate_exchange_id IS NOT DISTINCT FROM
			coalesce(ae, CASE WHEN alternate_exchange = exchange THEN old.exchange_id END) THEN
			RETURN;			/* same declaration */
		END IF;
		RAISE EXCEPTION 'exchange "%" already exists with different options', exchange
			USING ERRCODE = 'duplicate_object',
				  DETAIL = format('It is of type %s with alternate exchange %s.', old.type,
								  coalesce((SELECT quote_ident(a.exchange_name) FROM mq._exchange a
											WHERE a.exchange_id = old.alternate_exchange_id), 'none')),
				  HINT = 'Drop it first, or declare it as it is.';
	END IF;

	INSERT INTO mq._exchange (exchange_name, type, alternate_exchange_id, owner)
		VALUES (exchange, type, ae, mq._caller()) RETURNING exchange_id INTO xid;
	IF alternate_exchange = exchange THEN
		UPDATE mq._exchange e SET alternate_exchange_id = xid WHERE e.exchange_id = xid;
	END IF;
	INSERT INTO mq._exchange_stats (exchange_id) VALUES (xid);
END;
$$;


CREATE OR REPLACE FUNCTION mq._change_grant(kind text, name text, role text, privilege text,
								 give bool) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary(CASE WHEN give THEN 'mq.grant()' ELSE 'mq.revoke()' END) IS NULL;
	oid_ int;
	grantee_ oid;
	privs text[];
	valid text[] := CASE kind WHEN 'queue' THEN ARRAY['send', 'read', 'manage']
							  ELSE ARRAY['publish', 'manage'] END;
BEGIN
	oid_ := CASE kind WHEN 'queue' THEN mq._queue_id(name) ELSE mq._exchange_id(name) END;
	PERFORM mq._check_privilege(kind, name, 'manage');
	grantee_ := mq._grantee(role);
	IF privilege IS NULL THEN
		RAISE EXCEPTION 'privilege must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = format('Use one of %s, or all.', array_to_string(valid, ', '));
	ELSIF privilege = 'all' THEN
		privs := valid;
	ELSIF privilege = ANY (valid) THEN
		privs := ARRAY[privilege];
	ELSE
		RAISE EXCEPTION 'invalid privilege "%" for %', left(privilege, 64),
			CASE kind WHEN 'queue' THEN 'a queue' ELSE 'an exchange' END
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Use one of %s, or all.', array_to_string(valid, ', '));
	END IF;
	IF give THEN
		INSERT INTO mq._privilege (object_type, object_id, grantee, privilege)
			SELECT kind, oid_, grantee_, p FROM unnest(privs) p
			ON CONFLICT DO NOTHING;
	ELSE
		DELETE FROM mq._privilege g
			WHERE g.object_type = kind AND g.object_id = oid_
			  AND g.grantee = grantee_ AND g.privilege = ANY (privs);
	END IF;
END;
$$;


CREATE OR REPLACE FUNCTION mq._binding_arguments(source int, arguments jsonb) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF arguments IS NULL THEN
		RETURN '{}';
	END IF;
	IF jsonb_typeof(arguments) <> 'object' THEN
		RAISE EXCEPTION 'binding arguments must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass arguments such as ''{"x-match": "any", "format": "pdf"}'', or NULL.';
	END IF;
	/* bindings are rows of a unique index, whose entries are at most 2.7 kB */
	IF octet_length(arguments::text) > 1024 THEN
		RAISE EXCEPTION 'binding arguments are too large'
			USING ERRCODE = 'program_limit_exceeded',
				  DETAIL = format('The arguments take %s bytes as text, more than the limit of 1024.',
								  octet_length(arguments::text)),
				  HINT = 'Match on a few short headers.';
	END IF;
	IF arguments ? 'x-match' AND (jsonb_typeof(arguments -> 'x-match') <> 'string' OR
		arguments ->> 'x-match' NOT IN ('all', 'any', 'all-with-x', 'any-with-x')) THEN
		RAISE EXCEPTION 'invalid x-match value %', left((arguments -> 'x-match')::text, 64)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use "all", "any", "all-with-x" or "any-with-x".';
	END IF;
	RETURN arguments;
END;
$$;


/*
 * Roles that mq names (owners, grantees) have dependencies in pg_shdepend
 * (roles.c): DROP ROLE refuses, from any database, while a role owns
 * queues or exchanges or holds privileges on them; DROP OWNED and REASSIGN
 * OWNED deal with mq's objects as with PostgreSQL's.
 */
CREATE FUNCTION mq._sync_role_dependencies() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_sync_role_dependencies' LANGUAGE C;
CREATE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._queue
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();
CREATE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._exchange
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();
CREATE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._privilege
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();

/* DROP OWNED BY roles, after PostgreSQL's part: their queues and exchanges, their privileges */
CREATE FUNCTION mq._drop_owned(roles oid[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	name text;
BEGIN
	DELETE FROM mq._privilege p WHERE p.grantee = ANY (roles);
	FOR name IN SELECT e.exchange_name FROM mq._exchange e
				WHERE e.owner = ANY (roles) ORDER BY 1 LOOP
		PERFORM mq._drop_exchange(name, true, true);
	END LOOP;
	/* a queue that is another's dead-letter queue goes after that one */
	LOOP
		SELECT q.queue_name INTO name FROM mq._queue q
			WHERE q.owner = ANY (roles)
			  AND NOT EXISTS (SELECT 1 FROM mq._queue u
							  WHERE u.dead_letter_queue_id = q.queue_id)
			ORDER BY 1 LIMIT 1;
		EXIT WHEN NOT FOUND;
		PERFORM mq._drop_queue(name, true);
	END LOOP;
	/* what is left is the dead-letter queue of another role's queue: say so */
	FOR name IN SELECT q.queue_name FROM mq._queue q
				WHERE q.owner = ANY (roles) ORDER BY 1 LIMIT 1 LOOP
		PERFORM mq._drop_queue(name, false);
	END LOOP;
END;
$$;

/* REASSIGN OWNED BY roles TO new_owner, after PostgreSQL's part */
CREATE FUNCTION mq._reassign_owned(roles oid[], new_owner oid) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE mq._queue q SET owner = new_owner WHERE q.owner = ANY (roles);
	UPDATE mq._exchange e SET owner = new_owner WHERE e.owner = ANY (roles);
$$;

REVOKE EXECUTE ON FUNCTION mq._sync_role_dependencies(), mq._drop_owned(oid[]),
	mq._reassign_owned(oid[], oid) FROM PUBLIC;

/* the dependencies of the roles that 0.1.0 recorded as owners and grantees */
UPDATE mq._privilege SET grantee = grantee WHERE false;

/*
 * FIFO groups: a message of a group held back by an older one that a
 * transaction in progress sends (storage.c), on the SQL path too.
 */
CREATE FUNCTION mq._group_has_older(queue_table oid, group_key text, msg_id bigint)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_group_has_older' LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION mq._group_has_older(oid, text, bigint) FROM PUBLIC;

/*
 * Intervals are at most 100 years (queue.h), and mq.maintain() goes on to
 * the next queue when one fails: a queue whose options put "now minus an
 * interval" out of range stopped the timed work of every queue.  Names
 * that are not valid are echoed clipped.
 */
CREATE OR REPLACE FUNCTION mq._queue_options(
	queue text,
	visibility_timeout interval,
	max_receives int,
	dead_letter_queue text,
	message_ttl interval,
	max_length bigint,
	overflow text,
	fifo bool,
	dedup_window interval,
	archive bool,
	retention interval,
	unlogged bool,
	notify bool)
RETURNS mq._queue
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r mq._queue;
BEGIN
	IF visibility_timeout IS NULL OR visibility_timeout <= interval '0' THEN
		RAISE EXCEPTION 'visibility_timeout must be positive'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give a lease length such as ''30 seconds''.';
	END IF;
	IF visibility_timeout > interval '100 years' THEN
		RAISE EXCEPTION 'visibility_timeout must be at most 100 years'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give a lease length such as ''30 seconds''.';
	END IF;
	IF max_receives < 0 THEN
		RAISE EXCEPTION 'max_receives must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive count, or 0 or NULL for no limit.';
	END IF;
	IF message_ttl < interval '0' THEN
		RAISE EXCEPTION 'message_ttl must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive interval, or 0 or NULL for no expiry.';
	END IF;
	IF message_ttl > interval '100 years' THEN
		RAISE EXCEPTION 'message_ttl must be at most 100 years'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive interval, or 0 or NULL for no expiry.';
	END IF;
	IF max_length < 0 THEN
		RAISE EXCEPTION 'max_length must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive count, or 0 or NULL for no limit.';
	END IF;
	IF overflow IS NULL OR overflow NOT IN ('reject_publish', 'drop_head') THEN
		RAISE EXCEPTION 'invalid overflow behaviour "%"', left(overflow, 64)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''reject_publish'' or ''drop_head''.';
	END IF;
	IF dedup_window IS NULL OR dedup_window < interval '0' THEN
		RAISE EXCEPTION 'dedup_window must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an interval such as ''5 minutes'', or 0 to forget keys at ack.';
	END IF;
	IF dedup_window > interval '100 years' THEN
		RAISE EXCEPTION 'dedup_window must be at most 100 years'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an interval such as ''5 minutes'', or 0 to forget keys at ack.';
	END IF;
	IF retention < interval '0' THEN
		RAISE EXCEPTION 'retention must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive interval, or 0 or NULL to keep archived messages forever.';
	END IF;
	IF retention > interval '100 years' THEN
		RAISE EXCEPTION 'retention must be at most 100 years'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive interval, or 0 or NULL to keep archived messages forever.';
	END IF;
	IF fifo IS NULL OR archive IS NULL OR unlogged IS NULL OR notify IS NULL THEN
		RAISE EXCEPTION 'fifo, archive, unlogged and notify must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;

	r.queue_name := queue;
	r.visibility_timeout := visibility_timeout;
	r.max_receives := nullif(max_receives, 0);
	r.message_ttl := nullif(message_ttl, interval '0');
	r.max_length := nullif(max_length, 0);
	r.overflow := overflow;
	r.fifo := fifo;
	r.dedup_window := dedup_window;
	r.archive := archive;
	r.retention := nullif(retention, interval '0');
	r.unlogged := unlogged;
	r.notify := notify;

	IF dead_letter_queue IS NOT NULL AND dead_letter_queue <> '' THEN
		IF dead_letter_queue = queue THEN
			RAISE EXCEPTION 'queue "%" cannot be its own dead-letter queue', queue
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Create a separate queue for dead letters.';
		END IF;
		r.dead_letter_queue_id := mq._queue_id(dead_letter_queue);
		/* dead letters are sends to that queue */
		PERFORM mq._check_privilege('queue', dead_letter_queue, 'send');
		/* follow the chain of dead-letter queues: it must not come back */
		IF EXISTS (
			WITH RECURSIVE chain(queue_id, depth) AS (
				SELECT r.dead_letter_queue_id, 1
				UNION ALL
				SELECT q.dead_letter_queue_id, c.depth + 1
				FROM chain c JOIN mq._queue q ON q.queue_id = c.queue_id
				WHERE q.dead_letter_queue_id IS NOT NULL AND c.depth < 1000)
			SELECT 1 FROM chain c JOIN mq._queue q ON q.queue_id = c.queue_id
			WHERE q.queue_name = queue)
		THEN
			RAISE EXCEPTION 'dead-letter queue "%" would form a cycle with queue "%"',
				dead_letter_queue, queue
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Dead letters must end in a queue without a dead-letter queue of its own.';
		END IF;
	END IF;
	RETURN r;
END;
$$;


CREATE OR REPLACE FUNCTION mq._maintain(
	OUT queue_name text,
	OUT dead_lettered bigint,
	OUT expired bigint,
	OUT archive_deleted bigint,
	OUT dedup_keys_pruned bigint)
RETURNS SETOF record
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.maintain()') IS NULL;
	q mq._queue;
	err text;
	state text;
BEGIN
	FOR q IN SELECT * FROM mq._queue ORDER BY mq._queue.queue_name LOOP
		queue_name := q.queue_name;
		dead_lettered := 0;
		expired := 0;
		archive_deleted := 0;
		dedup_keys_pruned := 0;
		/* one queue's failure must not stop the others' maintenance */
		BEGIN
			IF q.max_receives IS NOT NULL OR q.message_ttl IS NOT NULL THEN
				SELECT s.dead_lettered, s.expired INTO dead_lettered, expired
					FROM mq._sweep(q.queue_name) s;
			END IF;
			IF q.retention IS NOT NULL THEN
				EXECUTE format('DELETE FROM mq.%I WHERE archived_at < $1', 'a_' || q.queue_id)
					USING clock_timestamp() - q.retention;
				GET DIAGNOSTICS archive_deleted = ROW_COUNT;
			END IF;
			EXECUTE format('DELETE FROM mq.%I WHERE removed_at <= $1', 'd_' || q.queue_id)
				USING clock_timestamp() - q.dedup_window;
			GET DIAGNOSTICS dedup_keys_pruned = ROW_COUNT;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
			RAISE WARNING 'mq.maintain() skipped queue "%": %', q.queue_name, err
				USING ERRCODE = state,
					  HINT = 'Correct the queue''s options with mq.alter_queue(); the other queues were maintained.';
			CONTINUE;
		END;
		RETURN NEXT;
	END LOOP;
END;
$$;


/*
 * Internal functions are for mq's own SECURITY DEFINER bodies, which run
 * as the extension's owner: no other role needs them, and a role that could
 * call them could probe other roles' queues.
 */
REVOKE EXECUTE ON FUNCTION mq._catalog_changed(), mq._check_privilege(text, text, text),
	mq._has_privilege(text, text, text), mq._caller(), mq._check_name(text, text),
	mq._require_primary(text), mq._queue_id(text), mq._exchange_id(text),
	mq._binding_arguments(int, jsonb), mq._grantee(text), mq._topic_matches(text, text),
	mq._create_queue(text, interval, int, text, interval, bigint, text, bool,
					 interval, bool, interval, bool, bool),
	mq._alter_queue(text, interval, int, text, interval, bigint, text, bool,
					interval, bool, interval, bool, bool),
	mq._drop_queue(text, bool), mq._purge_queue(text), mq._redrive(text, text, bigint),
	mq._maintain(), mq._metrics(text), mq._metrics_all(), mq._metrics_prometheus(),
	mq._create_exchange(text, text, text), mq._drop_exchange(text, bool, bool),
	mq._bind(text, text, text, jsonb), mq._bind_exchange(text, text, text, jsonb),
	mq._unbind(text, text, text, jsonb), mq._unbind_exchange(text, text, text, jsonb),
	mq._grant(text, text, text), mq._revoke(text, text, text),
	mq._grant_exchange(text, text, text), mq._revoke_exchange(text, text, text)
	FROM PUBLIC;
