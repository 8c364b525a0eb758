/*
 * pgmq--1.11.1.sql: the pgmq API, version 1.11, served by mq queues
 * (doc/pgmq.md).  Written for mq from pgmq's documentation: the same
 * function names, parameter names, result types and errors, so that pgmq's
 * clients run unchanged; the messages are mq's (mq.q_<id>), and pgmq.q_<name>
 * and pgmq.a_<name> are views of them.
 *
 * A pgmq queue named N is the mq queue lower(N): pgmq lower-cases its table
 * names, so 'Orders' and 'orders' are one queue there as here.
 */

\echo Use "CREATE EXTENSION pgmq CASCADE" to load this file. \quit

/*
 * Every function has SET search_path = pg_catalog, pg_temp (but send, read
 * and the one-id delete and archive, which are inlined and schema-qualify
 * everything instead): mq runs
 * its sends as the extension's owner, so the trigger of
 * pgmq.enable_notify_insert() runs as a superuser, and a caller's search_path
 * must not choose what it calls (test/sql/pgmq.sql, "search_path").
 */

/* ---- catalog ---- */

/* the queues created (or adopted) through pgmq.create*(), as pgmq lists them */
CREATE TABLE pgmq.meta (
	queue_name		varchar UNIQUE NOT NULL,
	is_partitioned	bool NOT NULL,
	is_unlogged		bool NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now()
);

CREATE UNLOGGED TABLE pgmq.notify_insert_throttle (
	queue_name		varchar UNIQUE NOT NULL REFERENCES pgmq.meta (queue_name) ON DELETE CASCADE,
	throttle_interval_ms int NOT NULL DEFAULT 0,
	last_notified_at timestamptz NOT NULL DEFAULT to_timestamp(0)
);

/*
 * Topic bindings: '*' is one dot-separated word, '#' any run of characters
 * (zero or more words, dots included): pgmq's rules, which differ from AMQP's
 * (there '#' is whole words only).  The regular expression is kept with the
 * pattern, made by pgmq._topic_regex().
 */
CREATE TABLE pgmq.topic_bindings (
	pattern			text NOT NULL,
	queue_name		text NOT NULL REFERENCES pgmq.meta (queue_name) ON DELETE CASCADE,
	bound_at		timestamptz NOT NULL DEFAULT now(),
	compiled_regex	text NOT NULL,
	CONSTRAINT topic_bindings_unique_pattern_queue UNIQUE (pattern, queue_name)
);

SELECT pg_catalog.pg_extension_config_dump('pgmq.meta', '');
SELECT pg_catalog.pg_extension_config_dump('pgmq.topic_bindings', '');

CREATE TYPE pgmq.message_record AS (
	msg_id			bigint,
	read_ct			int,
	enqueued_at		timestamptz,
	last_read_at	timestamptz,
	vt				timestamptz,
	message			jsonb,
	headers			jsonb
);

CREATE TYPE pgmq.queue_record AS (
	queue_name		varchar,
	is_partitioned	bool,
	is_unlogged		bool,
	created_at		timestamptz
);

CREATE TYPE pgmq.metrics_result AS (
	queue_name		text,
	queue_length	bigint,
	newest_msg_age_sec int,
	oldest_msg_age_sec int,
	total_messages	bigint,
	scrape_time		timestamptz,
	queue_visible_length bigint
);

/* ---- helpers ---- */

/* pgmq's check of a queue name in a table name, and its table name */
CREATE FUNCTION pgmq.format_table_name(queue_name text, prefix text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF queue_name ~ '\$|;|--|''' THEN
		RAISE EXCEPTION 'queue name contains invalid characters: $, ;, --, or ''';
	END IF;
	RETURN lower(prefix || '_' || queue_name);
END;
$$;

/* pgmq's limit: q_/a_ and template_pgmq_q_ names stay within 63 bytes */
CREATE FUNCTION pgmq.validate_queue_name(queue_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF length(queue_name) > 47 THEN
		RAISE EXCEPTION 'queue name is too long, maximum length is 47 characters';
	END IF;
END;
$$;

CREATE FUNCTION pgmq.acquire_queue_lock(queue_name text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgmq.queue_' || lower(queue_name)));
$$;

/*
 * The id of the mq queue behind a pgmq queue name (its message table is
 * mq.q_<id>, its archive mq.a_<id>); the catalog is mq's, hence DEFINER.
 */
CREATE FUNCTION pgmq._queue_id(queue_name text) RETURNS int
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int;
BEGIN
	SELECT q.queue_id INTO id FROM mq._queue q WHERE q.queue_name = lower($1);
	IF id IS NULL THEN
		RAISE EXCEPTION 'queue "%" does not exist', $1
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with pgmq.create().';
	END IF;
	RETURN id;
END;
$$;

/*
 * the last msg_id given out on a queue (pgmq's total_messages): for the
 * extension's owner (pgmq.migrate_to); others call _total_messages()
 */
CREATE FUNCTION pgmq._last_msg_id(queue_id int) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(pg_sequence_last_value(
		pg_get_serial_sequence(format('mq.%I', 'q_' || queue_id), 'msg_id')::regclass), 0);
$$;
REVOKE EXECUTE ON FUNCTION pgmq._last_msg_id(int) FROM PUBLIC;

/* the same for a role with a privilege on the queue (mq's, as mq.metrics() asks) */
CREATE FUNCTION pgmq._total_messages(queue_name text) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int := pgmq._queue_id(queue_name);
BEGIN
	PERFORM mq._check_privilege('queue', lower(queue_name), 'any');
	RETURN pgmq._last_msg_id(id);
END;
$$;

/*
 * For the reads that lease in SQL on mq's table (conditional and grouped):
 * the queue's id, and its max_receives and message_ttl, after moving what
 * is past them (mq._sweep(): to the dead-letter queue, or dropped as
 * expired), as mq.read() does on its way.  The read's own filter then
 * leaves out what is past them still, which the next
 * sweep takes.  The caller needs mq's read privilege (checked here, on the
 * role that called, before the sweep that only the owner may run).
 */
CREATE FUNCTION pgmq._sql_read_queue(queue_name text, OUT id int, OUT max_receives int,
									 OUT message_ttl interval)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	SELECT q.queue_id, q.max_receives, q.message_ttl INTO id, max_receives, message_ttl
	FROM mq._queue q WHERE q.queue_name = lower($1);
	IF id IS NULL THEN
		RAISE EXCEPTION 'queue "%" does not exist', $1
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with pgmq.create().';
	END IF;
	PERFORM mq._check_privilege('queue', lower($1), 'read');
	IF max_receives IS NOT NULL OR message_ttl IS NOT NULL THEN
		PERFORM mq._sweep(lower($1));
	END IF;
END;
$$;

/* a lease of vt seconds: pgmq's vt <= 0 means visible again at once */
CREATE FUNCTION pgmq._lease(vt int) RETURNS interval
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN vt > 0 THEN make_interval(secs => vt) ELSE interval '1 microsecond' END;
$$;

/* a pgmq delay (seconds, or the time the message becomes visible) as mq's interval */
CREATE FUNCTION pgmq._delay(delay int) RETURNS interval
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT make_interval(secs => greatest(delay, 0));
$$;

CREATE FUNCTION pgmq._delay(delay timestamptz) RETURNS interval
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT greatest(delay - clock_timestamp(), interval '0');
$$;

/* ---- queues ---- */

/*
 * The views pgmq.q_<name> and pgmq.a_<name> over mq's tables, in pgmq's
 * columns.  The queue view is updatable as it stands (INSERT, UPDATE of vt,
 * DELETE); mq does not keep last_read_at, which reads as NULL.  The archive
 * view takes INSERTs through a trigger (mq's archive has columns without
 * defaults that pgmq does not know).
 */
CREATE FUNCTION pgmq._create_views(queue_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int := pgmq._queue_id(queue_name);
	qview text := pgmq.format_table_name(queue_name, 'q');
	aview text := pgmq.format_table_name(queue_name, 'a');
BEGIN
	EXECUTE format($v$
		CREATE OR REPLACE VIEW pgmq.%I AS
		SELECT msg_id, read_ct, enqueued_at, NULL::timestamptz AS last_read_at,
			   vt, body AS message, headers
		FROM mq.%I$v$, qview, 'q_' || id);
	EXECUTE format('ALTER VIEW pgmq.%I ALTER COLUMN enqueued_at SET DEFAULT now()', qview);
	EXECUTE format('ALTER VIEW pgmq.%I ALTER COLUMN vt SET DEFAULT clock_timestamp()', qview);
	EXECUTE format('ALTER VIEW pgmq.%I ALTER COLUMN read_ct SET DEFAULT 0', qview);
	EXECUTE format($v$
		CREATE OR REPLACE VIEW pgmq.%I AS
		SELECT msg_id, read_ct, enqueued_at, NULL::timestamptz AS last_read_at,
			   archived_at, vt, body AS message, headers
		FROM mq.%I$v$, aview, 'a_' || id);
	IF NOT EXISTS (SELECT 1 FROM pg_trigger
				   WHERE tgrelid = format('pgmq.%I', qview)::regclass
					 AND tgname = 'pgmq_queue_insert') THEN
		EXECUTE format('CREATE TRIGGER pgmq_queue_insert INSTEAD OF INSERT ON pgmq.%I'
					   ' FOR EACH ROW EXECUTE FUNCTION pgmq._queue_insert(%L)', qview, id);
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger
				   WHERE tgrelid = format('pgmq.%I', aview)::regclass
					 AND tgname = 'pgmq_archive_insert') THEN
		EXECUTE format('CREATE TRIGGER pgmq_archive_insert INSTEAD OF INSERT ON pgmq.%I'
					   ' FOR EACH ROW EXECUTE FUNCTION pgmq._archive_insert(%L)', aview, id);
	END IF;
END;
$$;

/*
 * An INSERT into pgmq.q_<name>: a row of mq's table whose group_key is the
 * header x-pgmq-group, as a send gives it (the view's other operations are
 * PostgreSQL's own, on the view).  TG_ARGV[0]: the queue's id.
 */
CREATE FUNCTION pgmq._queue_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.last_read_at IS NOT NULL THEN
		RAISE EXCEPTION 'cannot insert a last_read_at into "%"', TG_TABLE_NAME
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'mq does not keep last_read_at.';
	END IF;
	IF NEW.msg_id IS NULL THEN
		EXECUTE format($i$
			INSERT INTO mq.%I (read_ct, enqueued_at, vt, headers, body, group_key)
			VALUES ($1, $2, $3, $4, $5, $4 ->> 'x-pgmq-group')
			RETURNING msg_id, read_ct, enqueued_at, vt$i$, 'q_' || TG_ARGV[0])
			INTO NEW.msg_id, NEW.read_ct, NEW.enqueued_at, NEW.vt
			USING coalesce(NEW.read_ct, 0), coalesce(NEW.enqueued_at, now()),
				  coalesce(NEW.vt, clock_timestamp()), NEW.headers, NEW.message;
	ELSE
		EXECUTE format($i$
			INSERT INTO mq.%I (msg_id, read_ct, enqueued_at, vt, headers, body, group_key)
			VALUES ($6, $1, $2, $3, $4, $5, $4 ->> 'x-pgmq-group')
			RETURNING msg_id, read_ct, enqueued_at, vt$i$, 'q_' || TG_ARGV[0])
			INTO NEW.msg_id, NEW.read_ct, NEW.enqueued_at, NEW.vt
			USING coalesce(NEW.read_ct, 0), coalesce(NEW.enqueued_at, now()),
				  coalesce(NEW.vt, clock_timestamp()), NEW.headers, NEW.message, NEW.msg_id;
	END IF;
	RETURN NEW;
END;
$$;

CREATE FUNCTION pgmq._archive_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format($i$
		INSERT INTO mq.%I (msg_id, read_ct, enqueued_at, vt, priority, headers, body, archived_at)
		VALUES ($1, coalesce($2, 0), coalesce($3, now()), $4, 0, $5, $6, coalesce($7, now()))$i$,
		'a_' || TG_ARGV[0])
		USING NEW.msg_id, NEW.read_ct, NEW.enqueued_at, NEW.vt, NEW.headers, NEW.message,
			  NEW.archived_at;
	RETURN NEW;
END;
$$;

/*
 * Create a queue: an mq queue (or adopt the mq queue of that name), its
 * views and its row in pgmq.meta.  Idempotent, as pgmq's.
 */
CREATE FUNCTION pgmq._create(queue_name text, unlogged bool, partitioned bool,
							 retention interval DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	lname text := lower(queue_name);
BEGIN
	PERFORM pgmq.format_table_name(queue_name, 'q');
	PERFORM pgmq.validate_queue_name(queue_name);
	PERFORM pgmq.acquire_queue_lock(queue_name);
	IF NOT EXISTS (SELECT 1 FROM mq.queues q WHERE q.queue_name = lname) THEN
		PERFORM mq.create_queue(lname, unlogged => unlogged, retention => retention);
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE lower(m.queue_name) = lname) THEN
		PERFORM pgmq._create_views(queue_name);
		INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)
		SELECT _create.queue_name, partitioned, q.unlogged
		FROM mq.queues q WHERE q.queue_name = lname;
	END IF;
END;
$$;

CREATE FUNCTION pgmq.create_non_partitioned(queue_name text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT pgmq._create(queue_name, false, false); $$;

CREATE FUNCTION pgmq.create(queue_name text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT pgmq._create(queue_name, false, false); $$;

/* an unlogged mq queue: its archive is unlogged too (pgmq's stays logged) */
CREATE FUNCTION pgmq.create_unlogged(queue_name text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT pgmq._create(queue_name, true, false); $$;

/*
 * mq needs no partitions (it compacts its tables itself, and pg_partman is
 * not needed): a partitioned queue is an ordinary mq queue.  A retention
 * given as a time ('7 days') becomes the mq queue's archive retention; pgmq's
 * numeric retention (in msg_ids) and retention of unread messages have no
 * counterpart: mq never drops a message nobody read.
 */
CREATE FUNCTION pgmq.create_partitioned(queue_name text,
										partition_interval text DEFAULT '10000',
										retention_interval text DEFAULT '100000')
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	retention interval;
BEGIN
	IF retention_interval !~ '^\s*[0-9]+\s*$' THEN
		retention := retention_interval::interval;
	END IF;
	PERFORM pgmq._create(queue_name, false, true, retention);
END;
$$;

CREATE FUNCTION pgmq.drop_queue(queue_name text) RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	lname text := lower(queue_name);
BEGIN
	PERFORM pgmq.format_table_name(queue_name, 'q');
	PERFORM pgmq.acquire_queue_lock(queue_name);
	IF NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE lower(m.queue_name) = lname) THEN
		RAISE NOTICE 'pgmq queue `%` does not exist', queue_name;
		RETURN false;
	END IF;
	EXECUTE format('DROP VIEW IF EXISTS pgmq.%I', 'q_' || lname);
	EXECUTE format('DROP VIEW IF EXISTS pgmq.%I', 'a_' || lname);
	DELETE FROM pgmq.meta m WHERE lower(m.queue_name) = lname;
	PERFORM mq.drop_queue(lname, if_exists => true);
	RETURN true;
END;
$$;

CREATE FUNCTION pgmq.drop_queue(queue_name text, partitioned bool) RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RAISE WARNING 'drop_queue(queue_name, partitioned) is deprecated and will be removed in PGMQ v2.0. Use drop_queue(queue_name) instead';
	PERFORM pgmq.drop_queue(queue_name);
	RETURN true;
END;
$$;

CREATE FUNCTION pgmq.detach_archive(queue_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RAISE WARNING 'detach_archive(queue_name) is deprecated and is a no-op. It will be removed in PGMQ v2.0. Archive tables are no longer member objects.';
END;
$$;

CREATE FUNCTION pgmq.purge_queue(queue_name text) RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT mq.purge_queue(lower(queue_name)); $$;

CREATE FUNCTION pgmq.list_queues() RETURNS SETOF pgmq.queue_record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT queue_name, is_partitioned, is_unlogged, created_at FROM pgmq.meta ORDER BY created_at, queue_name;
$$;

CREATE FUNCTION pgmq.metrics(queue_name text) RETURNS pgmq.metrics_result
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT metrics.queue_name, m.queue_length,
		   extract(epoch FROM m.newest_msg_age)::int,
		   extract(epoch FROM m.oldest_msg_age)::int,
		   pgmq._total_messages(metrics.queue_name),
		   m.scrape_time, m.visible
	FROM mq.metrics(lower(metrics.queue_name)) m;
$$;

CREATE FUNCTION pgmq.metrics_all() RETURNS SETOF pgmq.metrics_result
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT (pgmq.metrics(m.queue_name)).* FROM pgmq.meta m ORDER BY m.queue_name;
$$;

/* ---- send ---- */

/*
 * send returns bigint where pgmq's returns SETOF bigint (one row either way,
 * and the column is "send" in both): a scalar SQL function is inlined, so
 * pgmq.send costs what mq.send costs.  A function with a SET clause is never
 * inlined, so send (with read, delete and archive) are the only functions
 * here without a fixed search_path: every name and operator in their bodies is schema-qualified
 * instead, and they run as the caller, so a search_path cannot change what
 * they call.
 */

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay timestamptz)
RETURNS bigint LANGUAGE sql AS $$
	SELECT mq.send(pg_catalog.lower(queue_name), msg, headers,
				   GREATEST(delay OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp(),
							'0'::pg_catalog.interval),
				   group_key => headers OPERATOR(pg_catalog.->>) 'x-pgmq-group');
$$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay int)
RETURNS bigint LANGUAGE sql AS $$
	SELECT mq.send(pg_catalog.lower(queue_name), msg, headers,
				   pg_catalog.make_interval(secs => GREATEST(delay, 0)),
				   group_key => headers OPERATOR(pg_catalog.->>) 'x-pgmq-group');
$$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb)
RETURNS bigint LANGUAGE sql AS $$
	SELECT mq.send(pg_catalog.lower(queue_name), msg);
$$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb)
RETURNS bigint LANGUAGE sql AS $$
	SELECT mq.send(pg_catalog.lower(queue_name), msg, headers,
				   group_key => headers OPERATOR(pg_catalog.->>) 'x-pgmq-group');
$$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, delay int)
RETURNS bigint LANGUAGE sql AS $$
	SELECT mq.send(pg_catalog.lower(queue_name), msg,
				   delay => pg_catalog.make_interval(secs => GREATEST(delay, 0)));
$$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, delay timestamptz)
RETURNS bigint LANGUAGE sql AS $$
	SELECT mq.send(pg_catalog.lower(queue_name), msg,
				   delay => GREATEST(delay OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp(),
									 '0'::pg_catalog.interval));
$$;

CREATE FUNCTION pgmq._validate_batch_params(msgs jsonb[], headers jsonb[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF msgs IS NULL OR cardinality(msgs) = 0 THEN
		RAISE EXCEPTION 'msgs cannot be NULL or empty';
	END IF;
	IF headers IS NOT NULL AND cardinality(headers) <> cardinality(msgs) THEN
		RAISE EXCEPTION 'headers array length (%) must match msgs array length (%)',
			cardinality(headers), cardinality(msgs);
	END IF;
END;
$$;

CREATE FUNCTION pgmq._send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay interval)
RETURNS SETOF bigint LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT mq.send_batch(lower(queue_name), msgs, headers, delay,
						 group_keys => CASE WHEN headers IS NOT NULL THEN
							ARRAY(SELECT h ->> 'x-pgmq-group' FROM unnest(headers) h) END);
$$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq._validate_batch_params(msgs, headers);
	RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, headers, pgmq._delay(delay));
END;
$$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay int)
RETURNS SETOF bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq._validate_batch_params(msgs, headers);
	RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, headers, pgmq._delay(delay));
END;
$$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[])
RETURNS SETOF bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq._validate_batch_params(msgs, NULL);
	RETURN QUERY SELECT mq.send_batch(lower(queue_name), msgs);
END;
$$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[])
RETURNS SETOF bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq._validate_batch_params(msgs, headers);
	RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, headers, interval '0');
END;
$$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay int)
RETURNS SETOF bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq._validate_batch_params(msgs, NULL);
	RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, NULL, pgmq._delay(delay));
END;
$$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq._validate_batch_params(msgs, NULL);
	RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, NULL, pgmq._delay(delay));
END;
$$;

/* ---- read ---- */

/*
 * A read with a condition (JSON containment of the message): mq.read() has
 * no filter, so this one leases in SQL, over mq's table, the way mq does:
 * visible, not expired, in mq's order (priority, then msg_id).
 */
CREATE FUNCTION pgmq._read_where(queue_name text, vt int, qty int, conditional jsonb)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q record := pgmq._sql_read_queue(queue_name);
BEGIN
	RETURN QUERY EXECUTE format($q$
		WITH c AS (
			SELECT msg_id FROM mq.%1$I
			WHERE vt <= clock_timestamp() AND body @> $3
			  AND (expires_at IS NULL OR expires_at > clock_timestamp())
			  AND ($4 IS NULL OR read_ct < $4)
			  AND ($5 IS NULL OR enqueued_at > clock_timestamp() - $5)
			ORDER BY priority DESC, msg_id
			LIMIT $1
			FOR UPDATE SKIP LOCKED)
		UPDATE mq.%1$I m
		SET vt = clock_timestamp() + $2, read_ct = m.read_ct + 1
		FROM c WHERE m.msg_id = c.msg_id
		RETURNING m.msg_id, m.read_ct, m.enqueued_at, clock_timestamp(), m.vt, m.body, m.headers$q$,
		'q_' || q.id)
		USING qty, pgmq._lease(vt), conditional, q.max_receives, q.message_ttl;
END;
$$;

/*
 * read: mq.read(), or with a condition pgmq._read_where().  A SQL function
 * declared STABLE so that the planner inlines it where it is called in FROM
 * (as clients call it): the query then calls mq.read() itself, and costs
 * what mq.read() costs, the other branch cut by a one-time filter on the
 * parameters.  A qty of 0 reads nothing, as pgmq's LIMIT 0 (mq.read()
 * refuses it).  (STABLE is not what it does: it leases.  Called where it is
 * not inlined, it still runs its volatile callees as any caller would:
 * mq.read() and _read_where() take their own snapshots; test/sql/pgmq.sql
 * calls it both ways.)
 */
CREATE FUNCTION pgmq.read(queue_name text, vt int, qty int, conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record LANGUAGE sql STABLE AS $$
	SELECT m.msg_id, m.read_ct, m.enqueued_at, pg_catalog.clock_timestamp(), m.vt, m.body, m.headers
	FROM mq.read(pg_catalog.lower(queue_name), qty, pgmq._lease(vt)) m
	WHERE (conditional IS NULL OR conditional OPERATOR(pg_catalog.=) '{}'::pg_catalog.jsonb)
	  AND qty OPERATOR(pg_catalog.<>) 0
	UNION ALL
	SELECT * FROM pgmq._read_where(queue_name, vt, qty, conditional)
	WHERE NOT (conditional IS NULL OR conditional OPERATOR(pg_catalog.=) '{}'::pg_catalog.jsonb);
$$;

/*
 * read_with_poll: mq.read() with its wait, woken by the commit of a send to
 * the queue (mq's wakeups), not every poll_interval_ms; a read with a
 * condition polls, as pgmq does.
 */
CREATE FUNCTION pgmq.read_with_poll(queue_name text, vt int, qty int,
									max_poll_seconds int DEFAULT 5,
									poll_interval_ms int DEFAULT 100,
									conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	stop_at timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
BEGIN
	IF conditional IS NULL OR conditional = '{}'::jsonb THEN
		/* (in waits of at most mq.max_wait) */
		LOOP
			RETURN QUERY
				SELECT m.msg_id, m.read_ct, m.enqueued_at, clock_timestamp(), m.vt, m.body, m.headers
				FROM mq.read(lower(queue_name), qty, pgmq._lease(vt),
							 greatest(least(stop_at - clock_timestamp(),
											current_setting('mq.max_wait')::interval),
									  interval '0')) m;
			IF FOUND OR clock_timestamp() >= stop_at THEN
				RETURN;
			END IF;
		END LOOP;
	END IF;
	LOOP
		RETURN QUERY SELECT * FROM pgmq._read_where(queue_name, vt, qty, conditional);
		IF FOUND OR clock_timestamp() >= stop_at THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(poll_interval_ms / 1000.0);
	END LOOP;
END;
$$;

CREATE FUNCTION pgmq.pop(queue_name text, qty int DEFAULT 1)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT m.msg_id, m.read_ct, m.enqueued_at, NULL::timestamptz, m.vt, m.body, m.headers
	FROM mq.pop(lower(queue_name), qty) m;
$$;

/*
 * The grouped reads (group: the header x-pgmq-group; messages without it
 * are one group).  A message of a group may be read when it is visible and
 * no older message of its group is invisible (leased, or sent with a delay
 * that has not passed): FIFO within a group.  Each read locks the groups it
 * takes from, and only those, for its transaction (advisory locks; a group
 * locked by another reader is passed over), so concurrent readers never
 * split a group (test/specs/pgmq_grouped.spec).  A message whose row another
 * transaction has locked (a set_vt, a delete not yet committed), or that
 * another reader leased since the read began, is passed over, and so is
 * the rest of its group in this read.  mode: 'fill' (pgmq.read_grouped: fill the batch from the
 * group with the oldest message first, SQS FIFO), 'rr' (round robin: the
 * first message of every group, then the second...), 'head' (one message a
 * group).
 */
CREATE FUNCTION pgmq._read_grouped(queue_name text, vt int, qty int, mode text)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q record := pgmq._sql_read_queue(queue_name);
	id int := q.id;
	ready text;
	grp record;
	groups text[] := '{}';
	available bigint := 0;
BEGIN
	/*
	 * At most mq.max_batch_size messages, and as many groups (each read
	 * holds an advisory lock per group it takes from): more are left for the
	 * next read, as a pgmq read may return fewer than qty.
	 */
	qty := least(qty, current_setting('mq.max_batch_size')::int);
	/*
	 * the messages that may be read, with their group, its head and their
	 * rank in it; what is visible but expired or past max_receives is not
	 * there (the sweep takes it), what is leased still holds back its group
	 */
	ready := format($q$
		WITH m AS (
			SELECT msg_id, coalesce(headers ->> 'x-pgmq-group', '') AS g,
				   vt <= clock_timestamp() AS visible
			FROM mq.%I
			WHERE vt > clock_timestamp()
			   OR ((expires_at IS NULL OR expires_at > clock_timestamp())
				   AND (%L::int IS NULL OR read_ct < %L::int)
				   AND (%L::interval IS NULL OR enqueued_at > clock_timestamp() - %L::interval))),
		busy AS (
			SELECT g, min(msg_id) AS first_busy FROM m WHERE NOT visible GROUP BY g)
		SELECT m.msg_id, m.g,
			   min(m.msg_id) OVER (PARTITION BY m.g) AS head,
			   row_number() OVER (PARTITION BY m.g ORDER BY m.msg_id) AS rank
		FROM m LEFT JOIN busy b ON b.g = m.g
		WHERE m.visible AND (b.first_busy IS NULL OR m.msg_id < b.first_busy)$q$, 'q_' || id,
		q.max_receives, q.max_receives, q.message_ttl, q.message_ttl);
	/* take the groups in order, only as many as the batch needs, each under its lock */
	FOR grp IN EXECUTE format('SELECT g, min(head) AS head, count(*) AS n FROM (%s) r GROUP BY g ORDER BY 2', ready)
	LOOP
		EXIT WHEN available >= qty;
		IF pg_try_advisory_xact_lock(hashtextextended('pgmq.group.' || id || '.' || grp.g, 0)) THEN
			groups := groups || grp.g;
			available := available + CASE WHEN mode = 'fill' THEN grp.n ELSE 1 END;
		END IF;
	END LOOP;
	IF cardinality(groups) = 0 THEN
		RETURN;
	END IF;
	RETURN QUERY EXECUTE format($q$
		WITH r AS (%s),
		chosen AS (
			SELECT r.msg_id, r.g,
				   row_number() OVER (ORDER BY
						CASE $3 WHEN 'rr' THEN r.rank ELSE 0 END, r.head, r.msg_id) AS pos
			FROM r
			WHERE r.g = ANY ($4) AND ($3 <> 'head' OR r.rank = 1)),
		wanted AS (
			SELECT c.msg_id, c.g, c.pos FROM chosen c WHERE c.pos <= $1),
		locked AS (
			SELECT w.msg_id, w.g, w.pos, q.vt <= clock_timestamp() AS visible
			FROM wanted w JOIN mq.%2$I q ON q.msg_id = w.msg_id
			ORDER BY w.pos
			FOR UPDATE OF q SKIP LOCKED),
		passed AS (
			SELECT w.msg_id, w.g FROM wanted w LEFT JOIN locked l ON l.msg_id = w.msg_id
			WHERE l.msg_id IS NULL OR NOT l.visible),
		taken AS (
			SELECT l.msg_id, l.pos FROM locked l
			WHERE l.visible
			  AND NOT EXISTS (SELECT 1 FROM passed p WHERE p.g = l.g AND p.msg_id < l.msg_id)),
		leased AS (
			UPDATE mq.%2$I q SET vt = clock_timestamp() + $2, read_ct = q.read_ct + 1
			FROM taken l WHERE q.msg_id = l.msg_id
			RETURNING q.msg_id, q.read_ct, q.enqueued_at, clock_timestamp() AS last_read_at,
					  q.vt, q.body, q.headers, l.pos)
		SELECT msg_id, read_ct, enqueued_at, last_read_at, vt, body, headers
		FROM leased ORDER BY pos$q$,
		ready, 'q_' || id)
		USING qty, pgmq._lease(vt), mode, groups;
END;
$$;

CREATE FUNCTION pgmq.read_grouped(queue_name text, vt int, qty int)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, 'fill');
$$;

CREATE FUNCTION pgmq.read_grouped_rr(queue_name text, vt int, qty int)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, 'rr');
$$;

CREATE FUNCTION pgmq.read_grouped_head(queue_name text, vt int, qty int)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, 'head');
$$;

/* the grouped reads poll: mq has no wait that does not lease */
CREATE FUNCTION pgmq._read_grouped_poll(queue_name text, vt int, qty int, mode text,
										max_poll_seconds int, poll_interval_ms int)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	stop_at timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
BEGIN
	LOOP
		RETURN QUERY SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, mode);
		IF FOUND OR clock_timestamp() >= stop_at THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(poll_interval_ms / 1000.0);
	END LOOP;
END;
$$;

CREATE FUNCTION pgmq.read_grouped_with_poll(queue_name text, vt int, qty int,
											max_poll_seconds int DEFAULT 5,
											poll_interval_ms int DEFAULT 100)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq._read_grouped_poll(queue_name, vt, qty, 'fill', max_poll_seconds, poll_interval_ms);
$$;

CREATE FUNCTION pgmq.read_grouped_rr_with_poll(queue_name text, vt int, qty int,
											   max_poll_seconds int DEFAULT 5,
											   poll_interval_ms int DEFAULT 100)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq._read_grouped_poll(queue_name, vt, qty, 'rr', max_poll_seconds, poll_interval_ms);
$$;

CREATE FUNCTION pgmq.read_grouped_head_with_poll(queue_name text, vt int, qty int,
												 max_poll_seconds int DEFAULT 5,
												 poll_interval_ms int DEFAULT 100)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq._read_grouped_poll(queue_name, vt, qty, 'head', max_poll_seconds, poll_interval_ms);
$$;

/* pgmq's FIFO index helpers: mq reads groups without a GIN index (no-ops) */
CREATE FUNCTION pgmq.create_fifo_index(queue_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM pgmq._queue_id(queue_name); END; $$;

CREATE FUNCTION pgmq.create_fifo_indexes_all() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$ BEGIN END; $$;

/* ---- leases, delete, archive ---- */

/* set_vt moves vt to any time, past or future, leased or not: in SQL */
CREATE FUNCTION pgmq.set_vt(queue_name text, msg_ids bigint[], vt timestamptz)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF vt IS NULL THEN
		RAISE EXCEPTION 'vt cannot be NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Give a number of seconds or a time.';
	END IF;
	RETURN QUERY EXECUTE format($q$
		UPDATE mq.%I SET vt = $1 WHERE msg_id = ANY ($2)
		RETURNING msg_id, read_ct, enqueued_at, NULL::timestamptz, vt, body, headers$q$,
		'q_' || pgmq._queue_id(queue_name))
		USING vt, msg_ids;
END;
$$;

CREATE FUNCTION pgmq.set_vt(queue_name text, msg_ids bigint[], vt int)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.set_vt(queue_name, msg_ids, clock_timestamp() + make_interval(secs => vt));
$$;

CREATE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint, vt timestamptz)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.set_vt(queue_name, ARRAY[msg_id], vt);
$$;

CREATE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint, vt int)
RETURNS SETOF pgmq.message_record LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.set_vt(queue_name, ARRAY[msg_id], clock_timestamp() + make_interval(secs => vt));
$$;

/*
 * delete is mq's ack (on a queue made with mq's archive option it archives).
 * The one-id delete and archive are inlined, as send and read are: no SET
 * clause, every name schema-qualified.
 */
CREATE FUNCTION pgmq.delete(queue_name text, msg_id bigint) RETURNS bool
LANGUAGE sql AS $$
	SELECT CASE WHEN msg_id IS NULL THEN false ELSE mq.ack(pg_catalog.lower(queue_name), msg_id) END;
$$;

CREATE FUNCTION pgmq.delete(queue_name text, msg_ids bigint[]) RETURNS SETOF bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT mq.ack_batch(lower(queue_name), msg_ids); $$;

CREATE FUNCTION pgmq.archive(queue_name text, msg_id bigint) RETURNS bool
LANGUAGE sql AS $$ SELECT mq.archive(pg_catalog.lower(queue_name), msg_id); $$;

CREATE FUNCTION pgmq.archive(queue_name text, msg_ids bigint[]) RETURNS SETOF bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT mq.archive_batch(lower(queue_name), msg_ids); $$;

/* ---- notifications on insert ---- */

/*
 * A row trigger on mq's message table (mq's sends fire it, and so do inserts
 * into pgmq.q_<name>): NOTIFY on pgmq's channel "pgmq.q_<name>.INSERT", at
 * most once every throttle_interval_ms.  TG_ARGV[0]: the pgmq queue name,
 * TG_ARGV[1]: its throttle_interval_ms.  pgmq.notify_insert_throttle is
 * unlogged (a crash empties it) and not dumped: a queue without its row
 * there notifies, and gets its row again (with the interval of the
 * trigger).
 */
CREATE FUNCTION pgmq.notify_queue_listeners() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE pgmq.notify_insert_throttle t SET last_notified_at = clock_timestamp()
	WHERE t.queue_name = TG_ARGV[0]
	  AND (t.throttle_interval_ms = 0
		   OR clock_timestamp() - t.last_notified_at >= t.throttle_interval_ms * interval '1 millisecond');
	IF NOT FOUND THEN
		IF EXISTS (SELECT 1 FROM pgmq.notify_insert_throttle t WHERE t.queue_name = TG_ARGV[0]) THEN
			RETURN NULL;		/* throttled */
		END IF;
		INSERT INTO pgmq.notify_insert_throttle (queue_name, throttle_interval_ms, last_notified_at)
		SELECT m.queue_name, coalesce(TG_ARGV[1]::int, 0), clock_timestamp()
		FROM pgmq.meta m WHERE m.queue_name = TG_ARGV[0]
		ON CONFLICT (queue_name) DO NOTHING;
	END IF;
	PERFORM pg_notify('pgmq.q_' || lower(TG_ARGV[0]) || '.INSERT', NULL);
	RETURN NULL;
END;
$$;

/* (re)make the trigger of pgmq.notify_queue_listeners() on a queue */
CREATE FUNCTION pgmq._notify_trigger(queue_name text, throttle_interval_ms int) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	tbl text := format('mq.%I', 'q_' || pgmq._queue_id(queue_name));
BEGIN
	IF EXISTS (SELECT 1 FROM pg_trigger
			   WHERE tgrelid = tbl::regclass AND tgname = 'trigger_notify_queue_insert_listeners') THEN
		EXECUTE format('DROP TRIGGER trigger_notify_queue_insert_listeners ON %s', tbl);
	END IF;
	EXECUTE format('CREATE CONSTRAINT TRIGGER trigger_notify_queue_insert_listeners'
				   ' AFTER INSERT ON %s DEFERRABLE FOR EACH ROW'
				   ' EXECUTE FUNCTION pgmq.notify_queue_listeners(%L, %L)',
				   tbl, queue_name, throttle_interval_ms);
END;
$$;

CREATE FUNCTION pgmq._meta_name(queue_name text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT m.queue_name FROM pgmq.meta m WHERE lower(m.queue_name) = lower($1);
$$;

CREATE FUNCTION pgmq.disable_notify_insert(queue_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int := pgmq._queue_id(queue_name);
BEGIN
	IF EXISTS (SELECT 1 FROM pg_trigger
			   WHERE tgrelid = format('mq.%I', 'q_' || id)::regclass
				 AND tgname = 'trigger_notify_queue_insert_listeners') THEN
		EXECUTE format('DROP TRIGGER trigger_notify_queue_insert_listeners ON mq.%I', 'q_' || id);
	END IF;
	DELETE FROM pgmq.notify_insert_throttle t WHERE lower(t.queue_name) = lower(disable_notify_insert.queue_name);
END;
$$;

CREATE FUNCTION pgmq.enable_notify_insert(queue_name text, throttle_interval_ms int DEFAULT 250)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	name text := pgmq._meta_name(queue_name);
BEGIN
	IF throttle_interval_ms < 0 THEN
		RAISE EXCEPTION 'throttle_interval_ms must be non-negative';
	END IF;
	IF name IS NULL THEN
		RAISE EXCEPTION 'Queue "%" does not exist. Create it first using pgmq.create()', queue_name;
	END IF;
	PERFORM pgmq.disable_notify_insert(name);
	INSERT INTO pgmq.notify_insert_throttle (queue_name, throttle_interval_ms)
	VALUES (name, throttle_interval_ms);
	PERFORM pgmq._notify_trigger(name, throttle_interval_ms);
END;
$$;

CREATE FUNCTION pgmq.update_notify_insert(queue_name text, throttle_interval_ms int)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF throttle_interval_ms < 0 THEN
		RAISE EXCEPTION 'throttle_interval_ms must be non-negative, got: %', throttle_interval_ms;
	END IF;
	IF pgmq._meta_name(queue_name) IS NULL THEN
		RAISE EXCEPTION 'Queue "%" does not exist. Create the queue first using pgmq.create()', queue_name;
	END IF;
	UPDATE pgmq.notify_insert_throttle t
	SET throttle_interval_ms = update_notify_insert.throttle_interval_ms,
		last_notified_at = to_timestamp(0)
	WHERE lower(t.queue_name) = lower(update_notify_insert.queue_name);
	IF NOT FOUND THEN
		RAISE EXCEPTION 'Queue "%" does not have notify_insert enabled. Enable it first using pgmq.enable_notify_insert()', queue_name;
	END IF;
	PERFORM pgmq._notify_trigger(pgmq._meta_name(queue_name), throttle_interval_ms);
END;
$$;

CREATE FUNCTION pgmq.list_notify_insert_throttles()
RETURNS TABLE (queue_name text, throttle_interval_ms int, last_notified_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT t.queue_name, t.throttle_interval_ms, t.last_notified_at
	FROM pgmq.notify_insert_throttle t ORDER BY t.queue_name;
$$;

/* ---- topics ---- */

CREATE FUNCTION pgmq.validate_routing_key(routing_key text) RETURNS bool
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF routing_key IS NULL OR routing_key = '' THEN
		RAISE EXCEPTION 'routing_key cannot be NULL or empty';
	ELSIF length(routing_key) > 255 THEN
		RAISE EXCEPTION 'routing_key length cannot exceed 255 characters, got % characters', length(routing_key);
	ELSIF routing_key !~ '^[a-zA-Z0-9._-]+$' THEN
		RAISE EXCEPTION 'routing_key contains invalid characters. Only alphanumeric, dots, hyphens, and underscores are allowed. Got: %', routing_key;
	ELSIF left(routing_key, 1) = '.' THEN
		RAISE EXCEPTION 'routing_key cannot start with a dot. Got: %', routing_key;
	ELSIF right(routing_key, 1) = '.' THEN
		RAISE EXCEPTION 'routing_key cannot end with a dot. Got: %', routing_key;
	ELSIF position('..' IN routing_key) > 0 THEN
		RAISE EXCEPTION 'routing_key cannot contain consecutive dots. Got: %', routing_key;
	END IF;
	RETURN true;
END;
$$;

CREATE FUNCTION pgmq.validate_topic_pattern(pattern text) RETURNS bool
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF pattern IS NULL OR pattern = '' THEN
		RAISE EXCEPTION 'pattern cannot be NULL or empty';
	ELSIF length(pattern) > 255 THEN
		RAISE EXCEPTION 'pattern length cannot exceed 255 characters, got % characters', length(pattern);
	ELSIF pattern !~ '^[a-zA-Z0-9._*#-]+$' THEN
		RAISE EXCEPTION 'pattern contains invalid characters. Only alphanumeric, dots, hyphens, underscores, *, and # are allowed. Got: %', pattern;
	ELSIF left(pattern, 1) = '.' THEN
		RAISE EXCEPTION 'pattern cannot start with a dot. Got: %', pattern;
	ELSIF right(pattern, 1) = '.' THEN
		RAISE EXCEPTION 'pattern cannot end with a dot. Got: %', pattern;
	ELSIF position('..' IN pattern) > 0 THEN
		RAISE EXCEPTION 'pattern cannot contain consecutive dots. Got: %', pattern;
	ELSIF position('**' IN pattern) > 0 THEN
		RAISE EXCEPTION 'pattern cannot contain consecutive stars (**). Use # for multi-segment matching. Got: %', pattern;
	ELSIF position('##' IN pattern) > 0 THEN
		RAISE EXCEPTION 'pattern cannot contain consecutive hashes (##). A single # already matches zero or more segments. Got: %', pattern;
	ELSIF pattern ~ '[*][#]|[#][*]' THEN
		RAISE EXCEPTION 'pattern cannot contain adjacent wildcards (*# or #*). Separate wildcards with dots. Got: %', pattern;
	END IF;
	RETURN true;
END;
$$;

/* a valid pattern has only [A-Za-z0-9_.-*#]: '.' and '-' are the characters to escape */
CREATE FUNCTION pgmq._topic_regex(pattern text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT '^' || replace(replace(replace(pattern, '.', '\.'), '*', '[^.]+'), '#', '.*') || '$';
$$;

CREATE FUNCTION pgmq.bind_topic(pattern text, queue_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq.validate_topic_pattern(pattern);
	IF queue_name IS NULL OR queue_name = '' THEN
		RAISE EXCEPTION 'queue_name cannot be NULL or empty';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE m.queue_name = bind_topic.queue_name) THEN
		RAISE EXCEPTION 'Queue "%" does not exist. Create the queue first using pgmq.create()', queue_name;
	END IF;
	INSERT INTO pgmq.topic_bindings (pattern, queue_name, compiled_regex)
	VALUES (pattern, queue_name, pgmq._topic_regex(pattern))
	ON CONFLICT ON CONSTRAINT topic_bindings_unique_pattern_queue DO NOTHING;
END;
$$;

CREATE FUNCTION pgmq.unbind_topic(pattern text, queue_name text) RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF pattern IS NULL OR pattern = '' THEN
		RAISE EXCEPTION 'pattern cannot be NULL or empty';
	END IF;
	IF queue_name IS NULL OR queue_name = '' THEN
		RAISE EXCEPTION 'queue_name cannot be NULL or empty';
	END IF;
	DELETE FROM pgmq.topic_bindings b
	WHERE b.pattern = unbind_topic.pattern AND b.queue_name = unbind_topic.queue_name;
	RETURN FOUND;
END;
$$;

CREATE FUNCTION pgmq.list_topic_bindings()
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz, compiled_regex text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex
	FROM pgmq.topic_bindings b ORDER BY b.bound_at DESC, b.pattern;
$$;

CREATE FUNCTION pgmq.list_topic_bindings(queue_name text)
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz, compiled_regex text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex
	FROM pgmq.topic_bindings b WHERE b.queue_name = $1
	ORDER BY b.bound_at DESC, b.pattern;
$$;

CREATE FUNCTION pgmq.test_routing(routing_key text)
RETURNS TABLE (pattern text, queue_name text, compiled_regex text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgmq.validate_routing_key(routing_key);
	RETURN QUERY
		SELECT b.pattern, b.queue_name, b.compiled_regex FROM pgmq.topic_bindings b
		WHERE test_routing.routing_key ~ b.compiled_regex ORDER BY b.pattern;
END;
$$;

/* the queues a routing key reaches, each once, in name order */
CREATE FUNCTION pgmq._route(routing_key text) RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT DISTINCT b.queue_name FROM pgmq.topic_bindings b
	WHERE $1 ~ b.compiled_regex ORDER BY 1;
$$;

CREATE FUNCTION pgmq.send_topic(routing_key text, msg jsonb, headers jsonb, delay int)
RETURNS int LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q text;
	n int := 0;
BEGIN
	PERFORM pgmq.validate_routing_key(routing_key);
	IF msg IS NULL THEN
		RAISE EXCEPTION 'msg cannot be NULL';
	END IF;
	IF delay < 0 THEN
		RAISE EXCEPTION 'delay cannot be negative, got: %', delay;
	END IF;
	FOR q IN SELECT * FROM pgmq._route(routing_key) LOOP
		PERFORM pgmq.send(q, msg, headers, delay);
		n := n + 1;
	END LOOP;
	RETURN n;
END;
$$;

CREATE FUNCTION pgmq.send_topic(routing_key text, msg jsonb)
RETURNS int LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT pgmq.send_topic(routing_key, msg, NULL, 0); $$;

CREATE FUNCTION pgmq.send_topic(routing_key text, msg jsonb, delay int)
RETURNS int LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$ SELECT pgmq.send_topic(routing_key, msg, NULL, delay); $$;

CREATE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[],
									  delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q text;
	wait interval := pgmq._delay(delay);
BEGIN
	PERFORM pgmq.validate_routing_key(routing_key);
	PERFORM pgmq._validate_batch_params(msgs, headers);
	FOR q IN SELECT * FROM pgmq._route(routing_key) LOOP
		RETURN QUERY SELECT q, s.id FROM pgmq._send_batch(q, msgs, headers, wait) AS s(id);
	END LOOP;
END;
$$;

CREATE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL, clock_timestamp());
$$;

CREATE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, headers, clock_timestamp());
$$;

CREATE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], delay int)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL,
										clock_timestamp() + make_interval(secs => delay));
$$;

CREATE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL, delay);
$$;

CREATE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay int)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, headers,
										clock_timestamp() + make_interval(secs => delay));
$$;

GRANT USAGE ON SCHEMA pgmq TO PUBLIC;
GRANT SELECT ON pgmq.meta, pgmq.topic_bindings, pgmq.notify_insert_throttle TO PUBLIC;

/* ---- migration (doc/pgmq.md, "Moving a pgmq installation") ---- */

/*
 * The tables q_<name> of a schema that have pgmq's columns, with their
 * archive a_<name> if it has pgmq's archive columns.  Not partitions: a
 * partitioned queue (pg_partman's, q_<name> with children q_<name>_p0 ...)
 * is read through its parent, and its children are not queues.
 */
CREATE FUNCTION pgmq._pgmq_tables(source_schema text)
RETURNS TABLE (qtable regclass, atable regclass, name text, unlogged bool, partitioned bool)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT c.oid::regclass, a.oid::regclass,
		   substr(c.relname, 3), c.relpersistence = 'u', c.relkind = 'p'
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_class a ON a.relnamespace = n.oid AND a.relname = 'a_' || substr(c.relname, 3)
			AND a.relkind IN ('r', 'p') AND NOT a.relispartition
			AND (SELECT count(*) FROM pg_attribute aa
				 WHERE aa.attrelid = a.oid AND aa.attnum > 0 AND NOT aa.attisdropped
				   AND aa.attname IN ('msg_id', 'read_ct', 'enqueued_at', 'archived_at', 'vt',
									  'message', 'headers')) = 7
	WHERE n.nspname = source_schema AND c.relkind IN ('r', 'p') AND NOT c.relispartition
	  AND c.relname LIKE 'q\_%'
	  AND (SELECT count(*) FROM pg_attribute a
		   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			 AND a.attname IN ('msg_id', 'read_ct', 'enqueued_at', 'vt', 'message', 'headers')) = 6
	ORDER BY c.relname;
$$;

/* the last value of the sequence of a column msg_id (0 if none or unused) */
CREATE FUNCTION pgmq._msg_id_seq_value(tbl regclass) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence(tbl::text, 'msg_id')::regclass), 0);
$$;

/*
 * Copy the queues of a pgmq installation (tables pgmq-shaped: q_<name>,
 * a_<name>, meta and topic_bindings if there) from source_schema into mq:
 * each becomes a pgmq queue here with every message (msg_id, read_ct,
 * enqueued_at, vt, message, headers: a leased message stays leased until
 * its vt), every archived message (archived_at too) and its bindings; new
 * msg_ids go on after the source's.  last_read_at is not kept (mq has no
 * such column).  Into queues that are empty: a msg_id already there is an
 * error (and nothing is copied).
 */
CREATE FUNCTION pgmq.migrate_from(source_schema text)
RETURNS TABLE (queue_name text, messages bigint, archived bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src record;
	has_meta bool := to_regclass(format('%I.meta', source_schema)) IS NOT NULL;
	given text;
	parted bool;
	busy bool;
	id int;
	last bigint;
BEGIN
	IF source_schema IS NULL OR source_schema = 'pgmq' THEN
		RAISE EXCEPTION 'cannot migrate from schema "%"', source_schema
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Rename the schema of the pgmq installation first, as doc/pgmq.md shows.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = source_schema) THEN
		RAISE EXCEPTION 'schema "%" does not exist', source_schema USING ERRCODE = 'invalid_schema_name';
	END IF;
	FOR src IN SELECT * FROM pgmq._pgmq_tables(source_schema) LOOP
		given := NULL;
		parted := NULL;
		IF has_meta THEN
			EXECUTE format('SELECT queue_name, is_partitioned FROM %I.meta WHERE lower(queue_name) = $1',
						   source_schema)
				INTO given, parted USING src.name;
		END IF;
		queue_name := coalesce(given, src.name);
		PERFORM pgmq._create(queue_name, src.unlogged, coalesce(parted, src.partitioned));
		id := pgmq._queue_id(queue_name);
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM mq.%I) OR EXISTS (SELECT 1 FROM mq.%I)',
					   'q_' || id, 'a_' || id) INTO busy;
		IF busy THEN
			RAISE EXCEPTION 'queue "%" is not empty', queue_name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'Messages are copied into empty queues only, keeping their msg_id.',
					  HINT = 'Drop or purge the queue (and its archive) first.';
		END IF;
		IF has_meta THEN
			EXECUTE format('UPDATE pgmq.meta m SET created_at = o.created_at FROM %I.meta o'
						   ' WHERE lower(o.queue_name) = $1 AND lower(m.queue_name) = $1',
						   source_schema) USING src.name;
		END IF;
		EXECUTE format($i$
			INSERT INTO mq.%I (msg_id, read_ct, enqueued_at, vt, headers, body, group_key)
			SELECT msg_id, read_ct, enqueued_at, vt, headers, message, headers ->> 'x-pgmq-group'
			FROM %s ORDER BY msg_id$i$, 'q_' || id, src.qtable);
		GET DIAGNOSTICS messages = ROW_COUNT;
		archived := 0;
		IF src.atable IS NOT NULL THEN
			EXECUTE format($i$
				INSERT INTO mq.%I (msg_id, read_ct, enqueued_at, vt, priority, headers, body, archived_at)
				SELECT msg_id, read_ct, enqueued_at, vt, 0, headers, message, archived_at
				FROM %s ORDER BY msg_id$i$, 'a_' || id, src.atable);
			GET DIAGNOSTICS archived = ROW_COUNT;
		END IF;
		EXECUTE format('SELECT greatest($1, (SELECT max(msg_id) FROM %s), (SELECT max(msg_id) FROM %s))',
					   src.qtable, coalesce(src.atable::text, src.qtable::text))
			INTO last USING pgmq._msg_id_seq_value(src.qtable);
		IF last > 0 THEN
			PERFORM setval(pg_get_serial_sequence(format('mq.%I', 'q_' || id), 'msg_id'),
						   greatest(last, pgmq._msg_id_seq_value(format('mq.%I', 'q_' || id)::regclass)));
		END IF;
		RETURN NEXT;
	END LOOP;
	IF to_regclass(format('%I.topic_bindings', source_schema)) IS NOT NULL THEN
		EXECUTE format($i$
			INSERT INTO pgmq.topic_bindings (pattern, queue_name, bound_at, compiled_regex)
			SELECT b.pattern, m.queue_name, b.bound_at, pgmq._topic_regex(b.pattern)
			FROM %I.topic_bindings b JOIN pgmq.meta m ON lower(m.queue_name) = lower(b.queue_name)
			ON CONFLICT ON CONSTRAINT topic_bindings_unique_pattern_queue DO NOTHING$i$, source_schema);
	END IF;
END;
$$;

/*
 * The way back: the pgmq queues (pgmq.meta) written out into target_schema
 * as pgmq's own tables (meta, q_<name>, a_<name>, topic_bindings, in
 * pgmq's layout), with every message and archived message; the msg_id
 * sequences go on where mq's are.  A queue with messages of bytes (mq's
 * payload), in the queue or in its archive, is an error: pgmq has only JSON
 * messages.
 */
CREATE FUNCTION pgmq.migrate_to(target_schema text)
RETURNS TABLE (queue_name text, messages bigint, archived bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q record;
	id int;
	qt text;
	at text;
	bytes bigint;
BEGIN
	IF target_schema IS NULL OR target_schema = 'pgmq' THEN
		RAISE EXCEPTION 'cannot migrate to schema "%"', target_schema
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give a schema of its own, and rename it to pgmq once this extension is dropped.';
	END IF;
	IF to_regclass(format('%I.meta', target_schema)) IS NOT NULL THEN
		RAISE EXCEPTION 'schema "%" has a table meta already', target_schema
			USING ERRCODE = 'duplicate_table',
				  HINT = 'Give a schema without pgmq''s tables.';
	END IF;
	EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', target_schema);
	EXECUTE format($d$
		CREATE TABLE %I.meta (
			queue_name varchar UNIQUE NOT NULL,
			is_partitioned bool NOT NULL,
			is_unlogged bool NOT NULL,
			created_at timestamptz NOT NULL DEFAULT now())$d$, target_schema);
	EXECUTE format('INSERT INTO %I.meta SELECT queue_name, is_partitioned, is_unlogged, created_at FROM pgmq.meta',
				   target_schema);
	EXECUTE format($d$
		CREATE TABLE %1$I.topic_bindings (
			pattern text NOT NULL,
			queue_name text NOT NULL REFERENCES %1$I.meta (queue_name) ON DELETE CASCADE,
			bound_at timestamptz NOT NULL DEFAULT now(),
			compiled_regex text GENERATED ALWAYS AS
				('^' || replace(replace(replace(pattern, '.', '\.'), '*', '[^.]+'), '#', '.*') || '$') STORED,
			CONSTRAINT topic_bindings_unique_pattern_queue UNIQUE (pattern, queue_name))$d$, target_schema);
	EXECUTE format('INSERT INTO %I.topic_bindings (pattern, queue_name, bound_at)'
				   ' SELECT pattern, queue_name, bound_at FROM pgmq.topic_bindings',
				   target_schema);
	FOR q IN SELECT m.queue_name, m.is_unlogged FROM pgmq.meta m ORDER BY m.queue_name LOOP
		id := pgmq._queue_id(q.queue_name);
		EXECUTE format('SELECT count(*) FROM mq.%I WHERE payload IS NOT NULL', 'q_' || id) INTO bytes;
		IF bytes > 0 THEN
			RAISE EXCEPTION 'queue "%" has % messages of bytes', q.queue_name, bytes
				USING ERRCODE = 'feature_not_supported',
					  DETAIL = 'pgmq keeps JSON messages only.',
					  HINT = 'Consume them with mq.read() first.';
		END IF;
		EXECUTE format('SELECT count(*) FROM mq.%I WHERE payload IS NOT NULL', 'a_' || id) INTO bytes;
		IF bytes > 0 THEN
			RAISE EXCEPTION 'queue "%" has % archived messages of bytes', q.queue_name, bytes
				USING ERRCODE = 'feature_not_supported',
					  DETAIL = 'pgmq keeps JSON messages only.',
					  HINT = format('Delete them from the archive, mq.%I, first.', 'a_' || id);
		END IF;
		qt := pgmq.format_table_name(q.queue_name, 'q');
		at := pgmq.format_table_name(q.queue_name, 'a');
		EXECUTE format($d$
			CREATE %sTABLE %I.%I (
				msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
				read_ct int NOT NULL DEFAULT 0,
				enqueued_at timestamptz NOT NULL DEFAULT now(),
				last_read_at timestamptz,
				vt timestamptz NOT NULL,
				message jsonb,
				headers jsonb)$d$,
			CASE WHEN q.is_unlogged THEN 'UNLOGGED ' ELSE '' END, target_schema, qt);
		EXECUTE format('CREATE INDEX %I ON %I.%I (vt)', qt || '_vt_idx', target_schema, qt);
		EXECUTE format($d$
			CREATE TABLE %I.%I (
				msg_id bigint PRIMARY KEY,
				read_ct int NOT NULL DEFAULT 0,
				enqueued_at timestamptz NOT NULL DEFAULT now(),
				last_read_at timestamptz,
				archived_at timestamptz NOT NULL DEFAULT now(),
				vt timestamptz NOT NULL,
				message jsonb,
				headers jsonb)$d$, target_schema, at);
		EXECUTE format('CREATE INDEX %I ON %I.%I (archived_at)',
					   'archived_at_idx_' || lower(q.queue_name), target_schema, at);
		EXECUTE format($i$
			INSERT INTO %I.%I (msg_id, read_ct, enqueued_at, vt, message, headers)
			OVERRIDING SYSTEM VALUE
			SELECT msg_id, read_ct, enqueued_at, vt, body, headers FROM mq.%I ORDER BY msg_id$i$,
			target_schema, qt, 'q_' || id);
		GET DIAGNOSTICS messages = ROW_COUNT;
		EXECUTE format($i$
			INSERT INTO %I.%I (msg_id, read_ct, enqueued_at, archived_at, vt, message, headers)
			SELECT msg_id, read_ct, enqueued_at, archived_at, vt, body, headers FROM mq.%I ORDER BY msg_id$i$,
			target_schema, at, 'a_' || id);
		GET DIAGNOSTICS archived = ROW_COUNT;
		IF pgmq._last_msg_id(id) > 0 THEN
			PERFORM setval(pg_get_serial_sequence(format('%I.%I', target_schema, qt), 'msg_id'),
						   pgmq._last_msg_id(id));
		END IF;
		queue_name := q.queue_name;
		RETURN NEXT;
	END LOOP;
END;
$$;
