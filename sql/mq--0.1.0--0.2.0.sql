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
