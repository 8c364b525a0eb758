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

/*
 * Internal functions are for mq's own SECURITY DEFINER functions, which run
 * as the extension's owner: no other role needs them, and a role that could
 * call them could probe other roles' queues.
 */
REVOKE EXECUTE ON FUNCTION mq._catalog_changed(), mq._check_privilege(text, text, text),
	mq._has_privilege(text, text, text), mq._caller(), mq._check_name(text, text),
	mq._require_primary(text), mq._queue_id(text), mq._exchange_id(text),
	mq._binding_arguments(int, jsonb), mq._grantee(text), mq._topic_matches(text, text)
	FROM PUBLIC;
