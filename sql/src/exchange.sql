/*
 * exchange.sql: exchanges and bindings (AMQP 0-9-1 model) and publish.
 * Routing is done in C (exchange_route.c) from a per-backend cache of the catalog.
 */

/* The id of an exchange, or the usual errors. */
CREATE OR REPLACE FUNCTION mq._exchange_id(exchange text) RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	xid int;
BEGIN
	PERFORM mq._check_name(exchange, 'exchange');
	SELECT e.exchange_id INTO xid FROM mq._exchange e WHERE e.exchange_name = exchange;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'exchange "%" does not exist', exchange
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with mq.create_exchange().';
	END IF;
	RETURN xid;
END;
$$;

/*
 * The bodies of the management functions (see queue.sql): mq_manage() in
 * front of each records the caller.  Errors echo what was given clipped to
 * 64 characters, as names are.
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
	PERFORM mq._lock_name('exchange', exchange);
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
EXCEPTION WHEN foreign_key_violation THEN
	/*
	 * Only a concurrent change of a linked object gets here (each change
	 * locks its own name only, and the catalog's foreign keys keep links
	 * whole): a queue or exchange this one names, or one that names it,
	 * was dropped or changed meanwhile.
	 */
	RAISE EXCEPTION 'could not create exchange "%": an object it is linked to changed at the same time', left(exchange, 64)
		USING ERRCODE = 'serialization_failure',
			  DETAIL = 'Another transaction changed or dropped a queue or exchange it is linked to (a dead-letter queue, an alternate exchange) meanwhile.',
			  HINT = 'Try again.';
END;
$$;

CREATE OR REPLACE FUNCTION mq._drop_exchange(exchange text, if_exists bool DEFAULT false,
								 cascade bool DEFAULT false)
RETURNS bool
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.drop_exchange()') IS NULL;
	xid int;
	n bigint;
BEGIN
	PERFORM mq._check_name(exchange, 'exchange');
	PERFORM mq._lock_name('exchange', exchange);
	SELECT e.exchange_id INTO xid FROM mq._exchange e WHERE e.exchange_name = exchange;
	IF NOT FOUND THEN
		IF if_exists THEN
			RAISE NOTICE 'exchange "%" does not exist, skipping', exchange;
			RETURN false;
		END IF;
		PERFORM mq._exchange_id(exchange);
	END IF;
	PERFORM mq._check_privilege('exchange', exchange, 'manage');
	SELECT count(*) INTO n FROM mq._binding b
		WHERE b.source_id = xid OR b.exchange_id = xid;
	n := n + (SELECT count(*) FROM mq._exchange e
			  WHERE e.alternate_exchange_id = xid AND e.exchange_id <> xid);
	IF n > 0 AND NOT coalesce(cascade, false) THEN
		RAISE EXCEPTION 'cannot drop exchange "%" because it is bound', exchange
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = format('%s bindings or alternate-exchange references use it.', n),
				  HINT = 'Use cascade => true to drop its bindings too.';
	END IF;
	DELETE FROM mq._binding b WHERE b.source_id = xid OR b.exchange_id = xid;
	UPDATE mq._exchange e SET alternate_exchange_id = NULL WHERE e.alternate_exchange_id = xid;
	DELETE FROM mq._privilege p WHERE p.object_type = 'exchange' AND p.object_id = xid;
	DELETE FROM mq._exchange e WHERE e.exchange_id = xid;
	RETURN true;
EXCEPTION WHEN foreign_key_violation THEN
	/*
	 * Only a concurrent change of a linked object gets here (each change
	 * locks its own name only, and the catalog's foreign keys keep links
	 * whole): a queue or exchange this one names, or one that names it,
	 * was dropped or changed meanwhile.
	 */
	RAISE EXCEPTION 'could not drop exchange "%": an object it is linked to changed at the same time', left(exchange, 64)
		USING ERRCODE = 'serialization_failure',
			  DETAIL = 'Another transaction changed or dropped a queue or exchange it is linked to (a dead-letter queue, an alternate exchange) meanwhile.',
			  HINT = 'Try again.';
END;
$$;

/*
 * Check binding arguments; returns them normalised ('{}' for NULL).  They
 * are at most 1 kB (they are part of a unique index).
 */
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
 * Bindings: one function does the work of bind, bind_exchange, unbind and
 * unbind_exchange.  dest_kind is 'queue' (a queue's or a stream's name:
 * they share one namespace) or 'exchange'.  Binding keys are at most 255
 * bytes, as routing keys are (exchange_route.c): the bound keeps topic matching
 * short.  Binding says whether it added a binding, as unbinding says
 * whether it removed one.
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
	sid int;
	args jsonb;
BEGIN
	IF dest_kind = 'queue' THEN
		/* a stream's name binds the stream */
		SELECT s.stream_id INTO sid FROM mq._stream s WHERE s.stream_name = destination;
		IF sid IS NOT NULL THEN
			dest_kind := 'stream';
		ELSE
			qid := mq._queue_id(destination);
		END IF;
	ELSE
		xid := mq._exchange_id(destination);
	END IF;
	/*
	 * Binding needs manage on both ends.  Unbinding needs it on either: the
	 * owner of a queue (or exchange, or stream) can always remove what leads
	 * into it, and the owner of an exchange what leads out of it.
	 */
	IF add OR NOT mq._has_privilege(dest_kind, destination, 'manage') THEN
		PERFORM mq._check_privilege('exchange', source, 'manage');
	END IF;
	IF add OR NOT mq._has_privilege('exchange', source, 'manage') THEN
		PERFORM mq._check_privilege(dest_kind, destination, 'manage');
	END IF;
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
		INSERT INTO mq._binding (source_id, queue_id, exchange_id, stream_id, binding_key, arguments,
								 owner)
			VALUES (src, qid, xid, sid, binding_key, args, mq._caller())
			ON CONFLICT DO NOTHING;
		RETURN FOUND;			/* false: the binding was there already */
	END IF;
	DELETE FROM mq._binding b
		WHERE b.source_id = src
		  AND b.queue_id IS NOT DISTINCT FROM qid
		  AND b.exchange_id IS NOT DISTINCT FROM xid
		  AND b.stream_id IS NOT DISTINCT FROM sid
		  AND b.binding_key = _change_binding.binding_key
		  AND b.arguments = args;
	RETURN FOUND;
END;
$$;

CREATE OR REPLACE FUNCTION mq._bind(exchange text, queue text, binding_key text, arguments jsonb)
RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.bind()');
	RETURN mq._change_binding(exchange, 'queue', queue, binding_key, arguments, true);
END;
$$;

CREATE OR REPLACE FUNCTION mq._bind_exchange(source text, destination text, binding_key text,
								  arguments jsonb)
RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.bind_exchange()');
	RETURN mq._change_binding(source, 'exchange', destination, binding_key, arguments, true);
END;
$$;

CREATE OR REPLACE FUNCTION mq._unbind(exchange text, queue text, binding_key text DEFAULT '',
						  arguments jsonb DEFAULT NULL) RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.unbind()');
	RETURN mq._change_binding(exchange, 'queue', queue, binding_key, arguments, false);
END;
$$;

CREATE OR REPLACE FUNCTION mq._unbind_exchange(source text, destination text,
								   binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.unbind_exchange()');
	RETURN mq._change_binding(source, 'exchange', destination, binding_key, arguments, false);
END;
$$;

/* The entry points (mq_manage() calls the body of the same name). */
CREATE OR REPLACE FUNCTION mq.create_exchange(exchange text, type text DEFAULT 'direct',
								   alternate_exchange text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_exchange(text, text, text)
	IS 'Create an exchange: direct, fanout, topic or headers.';

CREATE OR REPLACE FUNCTION mq.drop_exchange(exchange text, if_exists bool DEFAULT false,
								 cascade bool DEFAULT false)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.drop_exchange(text, bool, bool) IS 'Drop an exchange (with cascade, its bindings too).';

CREATE OR REPLACE FUNCTION mq.bind(exchange text, queue text, binding_key text DEFAULT '',
						arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.bind(text, text, text, jsonb)
	IS 'Bind a queue to an exchange; false if the binding was there already.';

CREATE OR REPLACE FUNCTION mq.bind_exchange(source text, destination text,
								 binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.bind_exchange(text, text, text, jsonb)
	IS 'Bind an exchange to an exchange; false if the binding was there already.';

CREATE OR REPLACE FUNCTION mq.unbind(exchange text, queue text, binding_key text DEFAULT '',
						  arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.unbind(text, text, text, jsonb) IS 'Remove a binding to a queue; false if there was none.';

CREATE OR REPLACE FUNCTION mq.unbind_exchange(source text, destination text,
								   binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.unbind_exchange(text, text, text, jsonb)
	IS 'Remove a binding to an exchange; false if there was none.';

/*
 * Hot path: C (exchange_publish.c).  The options come in send's order, then
 * mandatory; the C functions of 0.2.0's order stay in the library for a
 * database not yet updated.
 */
CREATE OR REPLACE FUNCTION mq.publish(
	exchange text,
	routing_key text,
	body jsonb DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_key text DEFAULT NULL,
	group_key text DEFAULT NULL,
	priority int DEFAULT 0,
	mandatory bool DEFAULT false,
	payload bytea DEFAULT NULL,
	content_type text DEFAULT NULL,
	content_encoding text DEFAULT NULL,
	correlation_id text DEFAULT NULL,
	reply_to text DEFAULT NULL,
	ttl interval DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'mq_publish_0_3' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.publish(text, text, jsonb, jsonb, interval, text, text, int, bool, bytea,
							   text, text, text, text, interval)
	IS 'Publish a message (a JSON body or a bytes payload) to an exchange; returns the number of queues and streams it reached.';

CREATE OR REPLACE FUNCTION mq.publish_batch(
	exchange text,
	routing_keys text[],
	bodies jsonb[] DEFAULT NULL,
	headers jsonb[] DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_keys text[] DEFAULT NULL,
	group_keys text[] DEFAULT NULL,
	priority int DEFAULT 0,
	mandatory bool DEFAULT false,
	payloads bytea[] DEFAULT NULL,
	content_types text[] DEFAULT NULL,
	content_encoding text DEFAULT NULL,
	correlation_ids text[] DEFAULT NULL,
	reply_to text DEFAULT NULL,
	ttl interval DEFAULT NULL)
RETURNS SETOF int
AS 'MODULE_PATHNAME', 'mq_publish_batch_0_3' LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION mq.publish_batch(text, text[], jsonb[], jsonb[], interval, text[], text[], int,
									 bool, bytea[], text[], text, text[], text, interval)
	IS 'Publish messages in one call; returns for each the number of queues and streams it reached.';

/* Topic matching on its own, for tests and for checking a binding key. */
CREATE OR REPLACE FUNCTION mq._topic_matches(pattern text, routing_key text) RETURNS bool
	AS 'MODULE_PATHNAME', 'mq_topic_matches_sql' LANGUAGE C IMMUTABLE STRICT;

/* the catalog as users see it, with names for ids */
CREATE OR REPLACE VIEW mq.exchanges AS
	SELECT e.exchange_name, e.type, ae.exchange_name AS alternate_exchange,
		   s.unroutable, e.created_at, a.rolname AS owner
	FROM mq._exchange e
		LEFT JOIN mq._exchange ae
			ON ae.exchange_id OPERATOR(pg_catalog.=) e.alternate_exchange_id
		LEFT JOIN mq._exchange_stats s
			ON s.exchange_id OPERATOR(pg_catalog.=) e.exchange_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) e.owner;
COMMENT ON VIEW mq.exchanges IS 'Every exchange with its type, alternate exchange, unroutable count and owner.';

CREATE OR REPLACE VIEW mq.bindings AS
	SELECT s.exchange_name AS source,
		   coalesce(q.queue_name, d.exchange_name, t.stream_name) AS destination,
		   CASE WHEN b.queue_id IS NOT NULL THEN 'queue'
				WHEN b.stream_id IS NOT NULL THEN 'stream' ELSE 'exchange' END
			   AS destination_type,
		   b.binding_key, b.arguments, o.rolname AS owner
	FROM mq._binding b
		JOIN mq._exchange s ON s.exchange_id OPERATOR(pg_catalog.=) b.source_id
		LEFT JOIN mq._queue q ON q.queue_id OPERATOR(pg_catalog.=) b.queue_id
		LEFT JOIN mq._exchange d ON d.exchange_id OPERATOR(pg_catalog.=) b.exchange_id
		LEFT JOIN mq._stream t ON t.stream_id OPERATOR(pg_catalog.=) b.stream_id
		LEFT JOIN pg_catalog.pg_authid o ON o.oid OPERATOR(pg_catalog.=) b.owner;
COMMENT ON VIEW mq.bindings
	IS 'Every binding: source exchange, destination, key, arguments and the role that made it.';

REVOKE EXECUTE ON FUNCTION mq._exchange_id(text), mq._create_exchange(text, text, text),
	mq._drop_exchange(text, bool, bool), mq._binding_arguments(int, jsonb),
	mq._change_binding(text, text, text, text, jsonb, bool),
	mq._bind(text, text, text, jsonb), mq._bind_exchange(text, text, text, jsonb),
	mq._unbind(text, text, text, jsonb), mq._unbind_exchange(text, text, text, jsonb),
	mq._topic_matches(text, text)
	FROM PUBLIC;
GRANT SELECT ON mq.exchanges, mq.bindings TO PUBLIC;
