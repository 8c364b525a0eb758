/* mq--0.2.0--0.3.0.sql: update the mq extension from 0.2.0 to 0.3.0 */

\echo Use "ALTER EXTENSION mq UPDATE TO '0.3.0'" to load this file. \quit

/*
 * Batches are *_batch: mq.ack(text, bigint[]) made "SELECT mq.ack($1, $2)"
 * ambiguous for drivers that send untyped parameters.  mq.ack and
 * mq.archive now take one id; mq.ack_batch and mq.archive_batch an array.
 */
DROP FUNCTION mq.ack(text, bigint[]);
DROP FUNCTION mq.archive(text, bigint[]);

CREATE FUNCTION mq.ack_batch(queue text, msg_ids bigint[]) RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_ack_many' LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION mq.archive(queue text, msg_id bigint) RETURNS bool
AS 'MODULE_PATHNAME', 'mq_archive_one' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.archive_batch(queue text, msg_ids bigint[]) RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_archive' LANGUAGE C VOLATILE ROWS 10;

/*
 * mq.publish and mq.publish_batch take send's options in send's order,
 * then mandatory; the batch form gets dedup_keys and group_keys.  (0.2.0's
 * C functions stay, for a database not yet updated.)
 */
DROP FUNCTION mq.publish(text, text, jsonb, jsonb, bool, interval, int, text, text);
DROP FUNCTION mq.publish_batch(text, text[], jsonb[], jsonb[], bool, interval, int);

CREATE FUNCTION mq.publish(
	exchange text,
	routing_key text,
	body jsonb,
	headers jsonb DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_key text DEFAULT NULL,
	group_key text DEFAULT NULL,
	priority int DEFAULT 0,
	mandatory bool DEFAULT false)
RETURNS int
AS 'MODULE_PATHNAME', 'mq_publish_0_3' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.publish_batch(
	exchange text,
	routing_keys text[],
	bodies jsonb[],
	headers jsonb[] DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_keys text[] DEFAULT NULL,
	group_keys text[] DEFAULT NULL,
	priority int DEFAULT 0,
	mandatory bool DEFAULT false)
RETURNS SETOF int
AS 'MODULE_PATHNAME', 'mq_publish_batch_0_3' LANGUAGE C VOLATILE ROWS 100;

/*
 * mq.bind and mq.bind_exchange say whether they added a binding, as unbind
 * says whether it removed one.
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
		RETURN FOUND;			/* false: the binding was there already */
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

DROP FUNCTION mq.bind(text, text, text, jsonb);
DROP FUNCTION mq._bind(text, text, text, jsonb);
DROP FUNCTION mq.bind_exchange(text, text, text, jsonb);
DROP FUNCTION mq._bind_exchange(text, text, text, jsonb);

CREATE FUNCTION mq._bind(exchange text, queue text, binding_key text, arguments jsonb)
RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.bind()');
	RETURN mq._change_binding(exchange, 'queue', queue, binding_key, arguments, true);
END;
$$;

CREATE FUNCTION mq._bind_exchange(source text, destination text, binding_key text,
								  arguments jsonb)
RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.bind_exchange()');
	RETURN mq._change_binding(source, 'exchange', destination, binding_key, arguments, true);
END;
$$;

REVOKE EXECUTE ON FUNCTION mq._bind(text, text, text, jsonb),
	mq._bind_exchange(text, text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION mq.bind(exchange text, queue text, binding_key text DEFAULT '',
						arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.bind_exchange(source text, destination text,
								 binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;

/*
 * Every message table gets a statement trigger that resets the queue's scan
 * hint when somebody other than mq inserts or updates rows (an INSERT by
 * hand).  The hints no longer need distrusting every 250 ms: a scan from
 * the start of a queue walks every dead entry that a held snapshot keeps,
 * and that walk made reads collapse behind a long transaction.
 */
CREATE FUNCTION mq._table_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'mq_table_changed' LANGUAGE C;
REVOKE EXECUTE ON FUNCTION mq._table_changed() FROM PUBLIC;

CREATE OR REPLACE FUNCTION mq._create_storage(r mq._queue) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind text := CASE WHEN r.unlogged THEN 'UNLOGGED ' ELSE '' END;
BEGIN
	EXECUTE format($ddl$
		CREATE %sTABLE mq.%I (
			msg_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
			read_ct		int NOT NULL DEFAULT 0,
			enqueued_at	timestamptz NOT NULL,
			vt			timestamptz NOT NULL,
			priority	int NOT NULL DEFAULT 0,
			group_key	text,
			dedup_key	text,
			headers		jsonb,
			body		jsonb NOT NULL
		) WITH (fillfactor = 80)$ddl$, kind, 'q_' || r.queue_id);
	/* the delivery order: a lease update touches no indexed column (HOT) */
	EXECUTE format('CREATE INDEX %I ON mq.%I (priority DESC, msg_id)',
				   'q_' || r.queue_id || '_order', 'q_' || r.queue_id);
	EXECUTE format($ddl$
		CREATE %sTABLE mq.%I (
			msg_id		bigint PRIMARY KEY,
			read_ct		int NOT NULL,
			enqueued_at	timestamptz NOT NULL,
			vt			timestamptz NOT NULL,
			priority	int NOT NULL,
			group_key	text,
			dedup_key	text,
			headers		jsonb,
			body		jsonb NOT NULL,
			archived_at	timestamptz NOT NULL
		)$ddl$, kind, 'a_' || r.queue_id);
	EXECUTE format('CREATE INDEX %I ON mq.%I (archived_at)',
				   'a_' || r.queue_id || '_archived_at', 'a_' || r.queue_id);
	/* idempotent send: a key is unique while its message is in the queue */
	EXECUTE format('CREATE UNIQUE INDEX %I ON mq.%I (dedup_key) WHERE dedup_key IS NOT NULL',
				   'q_' || r.queue_id || '_dedup', 'q_' || r.queue_id);
	/* FIFO groups: is there an earlier message of this group? */
	EXECUTE format('CREATE INDEX %I ON mq.%I (group_key, msg_id) WHERE group_key IS NOT NULL',
				   'q_' || r.queue_id || '_group', 'q_' || r.queue_id);
	/* ... and for dedup_window after the message was acked */
	EXECUTE format($ddl$
		CREATE %sTABLE mq.%I (
			dedup_key	text PRIMARY KEY,
			msg_id		bigint NOT NULL,
			removed_at	timestamptz NOT NULL
		)$ddl$, kind, 'd_' || r.queue_id);
	EXECUTE format('CREATE INDEX %I ON mq.%I (removed_at)',
				   'd_' || r.queue_id || '_removed_at', 'd_' || r.queue_id);
	/* rows written by others than mq move the scan hint too (storage.c) */
	EXECUTE format('CREATE TRIGGER mq_table_changed AFTER INSERT OR UPDATE ON mq.%I'
				   ' FOR EACH STATEMENT EXECUTE FUNCTION mq._table_changed()',
				   'q_' || r.queue_id);
END;
$$;

DO $$
DECLARE
	q int;
BEGIN
	FOR q IN SELECT queue_id FROM mq._queue LOOP
		EXECUTE format('CREATE TRIGGER mq_table_changed AFTER INSERT OR UPDATE ON mq.%I'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION mq._table_changed()',
					   'q_' || q);
	END LOOP;
END;
$$;

/* What every public function, view and type is, for \df+ and \dv+ */
COMMENT ON FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text, bool,
									interval, bool, interval, bool, bool)
	IS 'Create a queue (a no-op if it exists with the same options).';
COMMENT ON FUNCTION mq.alter_queue(text, interval, int, text, interval, bigint, text, bool,
								   interval, bool, interval, bool, bool)
	IS 'Change options of a queue: NULL keeps one, 0 or an empty string clears an optional one.';
COMMENT ON FUNCTION mq.drop_queue(text, bool) IS 'Drop a queue and its messages.';
COMMENT ON FUNCTION mq.purge_queue(text) IS 'Delete every message of a queue; returns how many.';
COMMENT ON FUNCTION mq.send(text, jsonb, jsonb, interval, text, text, int)
	IS 'Send a message; returns its id (for a known dedup_key, the first message''s id).';
COMMENT ON FUNCTION mq.send_batch(text, jsonb[], jsonb[], interval, text[], text[], int)
	IS 'Send messages in one call; returns their ids in order.';
COMMENT ON FUNCTION mq.read(text, int, interval, interval)
	IS 'Lease up to qty visible messages for visibility_timeout, waiting up to wait for one.';
COMMENT ON FUNCTION mq.pop(text, int) IS 'Read and delete up to qty messages at once.';
COMMENT ON FUNCTION mq.ack(text, bigint) IS 'Delete (on an archive queue, archive) a message.';
COMMENT ON FUNCTION mq.ack_batch(text, bigint[]) IS 'Ack messages; returns the ids acked.';
COMMENT ON FUNCTION mq.nack(text, bigint, interval)
	IS 'Give a leased message back, visible again now or after delay.';
COMMENT ON FUNCTION mq.set_vt(text, bigint, interval)
	IS 'Move the end of a lease to now plus visibility_timeout; returns the new end.';
COMMENT ON FUNCTION mq.archive(text, bigint) IS 'Move a message to the queue''s archive.';
COMMENT ON FUNCTION mq.archive_batch(text, bigint[]) IS 'Archive messages; returns the ids archived.';
COMMENT ON FUNCTION mq.redrive(text, text, bigint)
	IS 'Move messages of a dead-letter queue back to a queue; returns how many.';
COMMENT ON FUNCTION mq.maintain()
	IS 'Timed work for every queue: dead letters, expiry, retention, dedup keys (the workers run it).';
COMMENT ON FUNCTION mq.metrics(text) IS 'Counts and ages of one queue.';
COMMENT ON FUNCTION mq.metrics_all() IS 'mq.metrics() of every queue the caller has a privilege on.';
COMMENT ON FUNCTION mq.metrics_prometheus() IS 'mq.metrics_all() in the Prometheus text format.';
COMMENT ON FUNCTION mq.create_exchange(text, text, text)
	IS 'Create an exchange: direct, fanout, topic or headers.';
COMMENT ON FUNCTION mq.drop_exchange(text, bool, bool) IS 'Drop an exchange (with cascade, its bindings too).';
COMMENT ON FUNCTION mq.bind(text, text, text, jsonb)
	IS 'Bind a queue to an exchange; false if the binding was there already.';
COMMENT ON FUNCTION mq.bind_exchange(text, text, text, jsonb)
	IS 'Bind an exchange to an exchange; false if the binding was there already.';
COMMENT ON FUNCTION mq.unbind(text, text, text, jsonb) IS 'Remove a binding to a queue; false if there was none.';
COMMENT ON FUNCTION mq.unbind_exchange(text, text, text, jsonb)
	IS 'Remove a binding to an exchange; false if there was none.';
COMMENT ON FUNCTION mq.publish(text, text, jsonb, jsonb, interval, text, text, int, bool)
	IS 'Publish a message to an exchange; returns the number of queues it reached.';
COMMENT ON FUNCTION mq.publish_batch(text, text[], jsonb[], jsonb[], interval, text[], text[], int, bool)
	IS 'Publish messages in one call; returns for each the number of queues it reached.';
COMMENT ON FUNCTION mq.grant(text, text, text) IS 'Grant send, read, manage or all on a queue to a role or public.';
COMMENT ON FUNCTION mq.revoke(text, text, text) IS 'Revoke a privilege on a queue.';
COMMENT ON FUNCTION mq.grant_exchange(text, text, text)
	IS 'Grant publish, manage or all on an exchange to a role or public.';
COMMENT ON FUNCTION mq.revoke_exchange(text, text, text) IS 'Revoke a privilege on an exchange.';
COMMENT ON FUNCTION mq.send_trigger()
	IS 'Row trigger: send each changed row to a queue (transactional outbox).';
COMMENT ON FUNCTION mq.publish_trigger()
	IS 'Row trigger: publish each changed row to an exchange (transactional outbox).';
COMMENT ON VIEW mq.queues IS 'Every queue with its options and owner.';
COMMENT ON VIEW mq.exchanges IS 'Every exchange with its type, alternate exchange, unroutable count and owner.';
COMMENT ON VIEW mq.bindings IS 'Every binding: source exchange, destination, key and arguments.';
COMMENT ON VIEW mq.privileges IS 'Grants beyond owners and superusers.';
COMMENT ON TYPE mq.message IS 'A message as mq.read() and mq.pop() return it.';
COMMENT ON TYPE mq.queue_metrics IS 'What mq.metrics() returns.';
