/* mq--0.1.0.sql: install script for the mq extension */

\echo Use "CREATE EXTENSION mq" to load this file. \quit

/*
 * Catalog.  One row per queue.  The per-queue message tables are named from
 * queue_id (mq.q_<id>, mq.a_<id> for the archive), never from user text.
 * The catalog's rows are dumped by pg_dump (pg_extension_config_dump); the
 * per-queue tables are not members of the extension, so pg_dump dumps them
 * and their data like any other table.
 */
CREATE SEQUENCE mq._queue_id_seq AS int;

CREATE TABLE mq._queue (
	queue_id		int PRIMARY KEY DEFAULT nextval('mq._queue_id_seq'),
	queue_name		text COLLATE "C" NOT NULL UNIQUE,
	visibility_timeout interval NOT NULL,
	max_receives	int,
	dead_letter_queue_id int REFERENCES mq._queue (queue_id),
	message_ttl		interval,
	max_length		bigint,
	overflow		text NOT NULL,
	fifo			bool NOT NULL,
	dedup_window	interval NOT NULL,
	archive			bool NOT NULL,
	retention		interval,
	unlogged		bool NOT NULL,
	notify			bool NOT NULL,
	owner			oid NOT NULL,		-- the role that created it
	created_at		timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE mq._queue_id_seq OWNED BY mq._queue.queue_id;

/*
 * Counters of messages that left a queue other than by ack.  Updated only
 * when that happens (rare), never on the send/read/ack path.
 */
CREATE TABLE mq._queue_stats (
	queue_id		int PRIMARY KEY REFERENCES mq._queue (queue_id) ON DELETE CASCADE,
	dead_lettered	bigint NOT NULL DEFAULT 0,	-- past max_receives
	expired			bigint NOT NULL DEFAULT 0,	-- past message_ttl
	dropped			bigint NOT NULL DEFAULT 0	-- dropped by overflow => 'drop_head'
);

SELECT pg_catalog.pg_extension_config_dump('mq._queue', '');
SELECT pg_catalog.pg_extension_config_dump('mq._queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mq._queue_stats', '');

/*
 * Grants of mq's own privileges (privilege.c): send, read, manage on
 * queues; publish, manage on exchanges.  grantee 0 is PUBLIC.
 */
CREATE TABLE mq._privilege (
	object_type		text NOT NULL CHECK (object_type IN ('queue', 'exchange')),
	object_id		int NOT NULL,
	grantee			oid NOT NULL,
	privilege		text NOT NULL CHECK (privilege IN ('send', 'read', 'manage', 'publish')),
	PRIMARY KEY (object_type, object_id, grantee, privilege)
);
SELECT pg_catalog.pg_extension_config_dump('mq._privilege', '');

/* Every change to the catalog invalidates the per-backend queue caches. */
CREATE FUNCTION mq._catalog_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_catalog_changed' LANGUAGE C;

CREATE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._queue
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
CREATE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._privilege
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();

/* Privilege checks for the SQL-language functions (privilege.c). */
CREATE FUNCTION mq._check_privilege(kind text, name text, privilege text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_check_privilege_sql' LANGUAGE C STABLE;
CREATE FUNCTION mq._has_privilege(kind text, name text, privilege text) RETURNS bool
	AS 'MODULE_PATHNAME', 'mq_has_privilege_sql' LANGUAGE C STABLE;
CREATE FUNCTION mq._caller() RETURNS oid
	AS 'MODULE_PATHNAME', 'mq_caller_sql' LANGUAGE C STABLE;

/* Internal helpers shared by the C and SQL halves. */
CREATE FUNCTION mq._check_name(name text, kind text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_check_name_sql' LANGUAGE C;

CREATE FUNCTION mq._require_primary(what text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_require_primary_sql' LANGUAGE C STABLE;

CREATE FUNCTION mq._queue_id(queue text) RETURNS int
	AS 'MODULE_PATHNAME', 'mq_queue_id_sql' LANGUAGE C STABLE;

/* The message as consumers see it. */
CREATE TYPE mq.message AS (
	msg_id		bigint,
	read_ct		int,
	enqueued_at	timestamptz,
	vt			timestamptz,
	priority	int,
	group_key	text,
	dedup_key	text,
	headers		jsonb,
	body		jsonb
);

CREATE VIEW mq.queues AS
	SELECT q.queue_name, q.visibility_timeout, q.max_receives,
		   d.queue_name AS dead_letter_queue, q.message_ttl, q.max_length,
		   q.overflow, q.fifo, q.dedup_window, q.archive, q.retention,
		   q.unlogged, q.notify, q.created_at
	FROM mq._queue q LEFT JOIN mq._queue d
		ON d.queue_id OPERATOR(pg_catalog.=) q.dead_letter_queue_id;

/*
 * Validate and normalise queue options.  For the options that may be absent,
 * zero (or '' for a queue name) means "none", so alter_queue can clear them.
 * Returns a catalog row carrying the normalised options.
 */
CREATE FUNCTION mq._queue_options(
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
	IF max_length < 0 THEN
		RAISE EXCEPTION 'max_length must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive count, or 0 or NULL for no limit.';
	END IF;
	IF overflow IS NULL OR overflow NOT IN ('reject_publish', 'drop_head') THEN
		RAISE EXCEPTION 'invalid overflow behaviour "%"', overflow
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''reject_publish'' or ''drop_head''.';
	END IF;
	IF dedup_window IS NULL OR dedup_window < interval '0' THEN
		RAISE EXCEPTION 'dedup_window must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an interval such as ''5 minutes'', or 0 to forget keys at ack.';
	END IF;
	IF retention < interval '0' THEN
		RAISE EXCEPTION 'retention must not be negative'
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

/* Create the storage of queue r (already in the catalog). */
CREATE FUNCTION mq._create_storage(r mq._queue) RETURNS void
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
END;
$$;

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
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.create_queue()') IS NULL;
	r mq._queue;
	old mq._queue;
	diff text;
BEGIN
	PERFORM mq._check_name(queue, 'queue');
	/* serialise catalog changes; readers of the catalog are not blocked */
	LOCK TABLE mq._queue IN SHARE ROW EXCLUSIVE MODE;
	r := mq._queue_options(queue, visibility_timeout, max_receives,
						   dead_letter_queue, message_ttl, max_length, overflow,
						   fifo, dedup_window, archive, retention, unlogged,
						   notify);

	SELECT * INTO old FROM mq._queue q WHERE q.queue_name = queue;
	IF FOUND THEN
		PERFORM mq._check_privilege('queue', queue, 'any');
		SELECT string_agg(o.name, ', ' ORDER BY o.ord) INTO diff
		FROM (VALUES
			(1, 'visibility_timeout', old.visibility_timeout IS DISTINCT FROM r.visibility_timeout),
			(2, 'max_receives', old.max_receives IS DISTINCT FROM r.max_receives),
			(3, 'dead_letter_queue', old.dead_letter_queue_id IS DISTINCT FROM r.dead_letter_queue_id),
			(4, 'message_ttl', old.message_ttl IS DISTINCT FROM r.message_ttl),
			(5, 'max_length', old.max_length IS DISTINCT FROM r.max_length),
			(6, 'overflow', old.overflow IS DISTINCT FROM r.overflow),
			(7, 'fifo', old.fifo IS DISTINCT FROM r.fifo),
			(8, 'dedup_window', old.dedup_window IS DISTINCT FROM r.dedup_window),
			(9, 'archive', old.archive IS DISTINCT FROM r.archive),
			(10, 'retention', old.retention IS DISTINCT FROM r.retention),
			(11, 'unlogged', old.unlogged IS DISTINCT FROM r.unlogged),
			(12, 'notify', old.notify IS DISTINCT FROM r.notify)
		) AS o(ord, name, differs)
		WHERE o.differs;
		IF diff IS NULL THEN
			RETURN;				/* same declaration: nothing to do */
		END IF;
		RAISE EXCEPTION 'queue "%" already exists with different options', queue
			USING ERRCODE = 'duplicate_object',
				  DETAIL = format('These options differ: %s.', diff),
				  HINT = 'Use mq.alter_queue() to change the options of an existing queue.';
	END IF;

	INSERT INTO mq._queue (queue_name, visibility_timeout, max_receives,
						   dead_letter_queue_id, message_ttl, max_length,
						   overflow, fifo, dedup_window, archive, retention,
						   unlogged, notify, owner)
	VALUES (queue, r.visibility_timeout, r.max_receives,
			r.dead_letter_queue_id, r.message_ttl, r.max_length,
			r.overflow, r.fifo, r.dedup_window, r.archive, r.retention,
			r.unlogged, r.notify, mq._caller())
	RETURNING * INTO r;
	INSERT INTO mq._queue_stats (queue_id) VALUES (r.queue_id);
	PERFORM mq._create_storage(r);
END;
$$;

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
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.alter_queue()') IS NULL;
	old mq._queue;
	r mq._queue;
	qid int;
	persistence text;
BEGIN
	qid := mq._queue_id(queue);
	PERFORM mq._check_privilege('queue', queue, 'manage');
	LOCK TABLE mq._queue IN SHARE ROW EXCLUSIVE MODE;
	SELECT * INTO old FROM mq._queue q WHERE q.queue_id = qid;
	IF NOT FOUND THEN
		/* dropped while we waited for the lock */
		PERFORM mq._queue_id(queue);
	END IF;

	/* NULL keeps the current value */
	r := mq._queue_options(queue,
		coalesce(visibility_timeout, old.visibility_timeout),
		coalesce(max_receives, old.max_receives),
		coalesce(dead_letter_queue,
				 (SELECT d.queue_name FROM mq._queue d
				  WHERE d.queue_id = old.dead_letter_queue_id)),
		coalesce(message_ttl, old.message_ttl),
		coalesce(max_length, old.max_length),
		coalesce(overflow, old.overflow),
		coalesce(fifo, old.fifo),
		coalesce(dedup_window, old.dedup_window),
		coalesce(archive, old.archive),
		coalesce(retention, old.retention),
		coalesce(unlogged, old.unlogged),
		coalesce(notify, old.notify));

	UPDATE mq._queue q SET
		visibility_timeout = r.visibility_timeout,
		max_receives = r.max_receives,
		dead_letter_queue_id = r.dead_letter_queue_id,
		message_ttl = r.message_ttl,
		max_length = r.max_length,
		overflow = r.overflow,
		fifo = r.fifo,
		dedup_window = r.dedup_window,
		archive = r.archive,
		retention = r.retention,
		unlogged = r.unlogged,
		notify = r.notify
	WHERE q.queue_id = qid;

	IF r.unlogged <> old.unlogged THEN
		persistence := CASE WHEN r.unlogged THEN 'UNLOGGED' ELSE 'LOGGED' END;
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'q_' || qid, persistence);
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'a_' || qid, persistence);
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'd_' || qid, persistence);
	END IF;
END;
$$;

CREATE FUNCTION mq.drop_queue(queue text, if_exists bool DEFAULT false)
RETURNS bool
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.drop_queue()') IS NULL;
	qid int;
	users text;
BEGIN
	PERFORM mq._check_name(queue, 'queue');
	LOCK TABLE mq._queue IN SHARE ROW EXCLUSIVE MODE;
	SELECT q.queue_id INTO qid FROM mq._queue q WHERE q.queue_name = queue;
	IF NOT FOUND THEN
		IF if_exists THEN
			RAISE NOTICE 'queue "%" does not exist, skipping', queue;
			RETURN false;
		END IF;
		PERFORM mq._queue_id(queue);	/* raises the usual error */
	END IF;
	PERFORM mq._check_privilege('queue', queue, 'manage');

	SELECT string_agg(format('"%s"', q.queue_name), ', ' ORDER BY q.queue_name)
		INTO users
		FROM mq._queue q WHERE q.dead_letter_queue_id = qid;
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop queue "%" because other queues use it as their dead-letter queue', queue
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = format('Dead-letter queue of: %s.', users),
				  HINT = 'Change their dead_letter_queue with mq.alter_queue() first.';
	END IF;

	EXECUTE format('DROP TABLE mq.%I, mq.%I, mq.%I',
				   'q_' || qid, 'a_' || qid, 'd_' || qid);
	DELETE FROM mq._privilege p WHERE p.object_type = 'queue' AND p.object_id = qid;
	DELETE FROM mq._queue q WHERE q.queue_id = qid;
	RETURN true;
END;
$$;

CREATE FUNCTION mq.purge_queue(queue text) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.purge_queue()') IS NULL;
	n bigint;
BEGIN
	PERFORM mq._check_privilege('queue', queue, 'manage');
	EXECUTE format('DELETE FROM mq.%I', 'q_' || mq._queue_id(queue));
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;

/* Hot path: C. */
CREATE FUNCTION mq.send(
	queue text,
	body jsonb,
	headers jsonb DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_key text DEFAULT NULL,
	group_key text DEFAULT NULL,
	priority int DEFAULT 0)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_send' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.send_batch(
	queue text,
	bodies jsonb[],
	headers jsonb[] DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_keys text[] DEFAULT NULL,
	group_keys text[] DEFAULT NULL,
	priority int DEFAULT 0)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_send_batch' LANGUAGE C VOLATILE ROWS 100;

CREATE FUNCTION mq.read(
	queue text,
	qty int DEFAULT 1,
	visibility_timeout interval DEFAULT NULL,
	wait interval DEFAULT '0')
RETURNS SETOF mq.message
AS 'MODULE_PATHNAME', 'mq_read' LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION mq.pop(queue text, qty int DEFAULT 1)
RETURNS SETOF mq.message
AS 'MODULE_PATHNAME', 'mq_pop' LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION mq.ack(queue text, msg_id bigint) RETURNS bool
AS 'MODULE_PATHNAME', 'mq_ack' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.ack(queue text, msg_ids bigint[]) RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_ack_many' LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION mq.nack(queue text, msg_id bigint, delay interval DEFAULT '0')
RETURNS bool
AS 'MODULE_PATHNAME', 'mq_nack' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.set_vt(queue text, msg_id bigint, visibility_timeout interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'mq_set_vt' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.archive(queue text, msg_ids bigint[]) RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_archive' LANGUAGE C VOLATILE ROWS 10;

/* Monitoring. */
CREATE TYPE mq.queue_metrics AS (
	queue_name		text,
	queue_length	bigint,
	visible			bigint,
	in_flight		bigint,
	delayed			bigint,
	oldest_msg_age	interval,
	newest_msg_age	interval,
	archive_length	bigint,
	dead_lettered	bigint,
	expired			bigint,
	dropped			bigint,
	scrape_time		timestamptz
);

CREATE FUNCTION mq.metrics(queue text) RETURNS mq.queue_metrics
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	qid int := mq._queue_id(queue);
	m mq.queue_metrics;
BEGIN
	PERFORM mq._check_privilege('queue', queue, 'any');
	m.queue_name := queue;
	m.scrape_time := clock_timestamp();
	SELECT s.dead_lettered, s.expired, s.dropped
		INTO m.dead_lettered, m.expired, m.dropped
		FROM mq._queue_stats s WHERE s.queue_id = qid;
	/* an unlogged queue has no content on a standby: its counts are unknown */
	IF pg_is_in_recovery() AND (SELECT q.unlogged FROM mq._queue q WHERE q.queue_id = qid) THEN
		RETURN m;
	END IF;
	EXECUTE format($q$
		SELECT count(*),
			   count(*) FILTER (WHERE vt <= $1),
			   count(*) FILTER (WHERE vt > $1 AND read_ct > 0),
			   count(*) FILTER (WHERE vt > $1 AND read_ct = 0),
			   $1 - min(enqueued_at),
			   $1 - max(enqueued_at)
		FROM mq.%I$q$, 'q_' || qid)
		INTO m.queue_length, m.visible, m.in_flight, m.delayed,
			 m.oldest_msg_age, m.newest_msg_age
		USING m.scrape_time;
	EXECUTE format('SELECT count(*) FROM mq.%I', 'a_' || qid)
		INTO m.archive_length;
	RETURN m;
END;
$$;

CREATE FUNCTION mq.metrics_all() RETURNS SETOF mq.queue_metrics
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT m.* FROM mq._queue q, LATERAL mq.metrics(q.queue_name) m
	WHERE mq._has_privilege('queue', q.queue_name, 'any')
	ORDER BY q.queue_name;
$$;

/* Timed work: dead letters, expiry, retention, dedup keys. */
CREATE FUNCTION mq._sweep(queue text, OUT dead_lettered bigint, OUT expired bigint)
	AS 'MODULE_PATHNAME', 'mq_sweep' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.maintain(
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
BEGIN
	FOR q IN SELECT * FROM mq._queue ORDER BY mq._queue.queue_name LOOP
		queue_name := q.queue_name;
		dead_lettered := 0;
		expired := 0;
		archive_deleted := 0;
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
		RETURN NEXT;
	END LOOP;
END;
$$;

CREATE FUNCTION mq.redrive(dead_letter_queue text, target text,
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
	RETURN n;
END;
$$;

/*
 * Exchanges and bindings (AMQP 0-9-1 model).  Routing is done in C
 * (routing.c) from a per-backend cache of this catalog, invalidated by the
 * same trigger as the queue catalog.
 */
CREATE SEQUENCE mq._exchange_id_seq AS int;

CREATE TABLE mq._exchange (
	exchange_id		int PRIMARY KEY DEFAULT nextval('mq._exchange_id_seq'),
	exchange_name	text COLLATE "C" NOT NULL UNIQUE,
	type			text NOT NULL CHECK (type IN ('direct', 'fanout', 'topic', 'headers')),
	alternate_exchange_id int REFERENCES mq._exchange (exchange_id),
	owner			oid NOT NULL,		-- the role that created it
	created_at		timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE mq._exchange_id_seq OWNED BY mq._exchange.exchange_id;

CREATE TABLE mq._binding (
	source_id		int NOT NULL REFERENCES mq._exchange (exchange_id),
	queue_id		int REFERENCES mq._queue (queue_id) ON DELETE CASCADE,
	exchange_id		int REFERENCES mq._exchange (exchange_id),
	binding_key		text NOT NULL,
	arguments		jsonb NOT NULL DEFAULT '{}',
	CHECK ((queue_id IS NULL) <> (exchange_id IS NULL))
);
CREATE UNIQUE INDEX _binding_unique ON mq._binding
	(source_id, coalesce(queue_id, 0), coalesce(exchange_id, 0), binding_key, arguments);
CREATE INDEX _binding_queue ON mq._binding (queue_id);
CREATE INDEX _binding_exchange ON mq._binding (exchange_id);

/* unroutable messages, counted when they happen (rare) */
CREATE TABLE mq._exchange_stats (
	exchange_id		int PRIMARY KEY REFERENCES mq._exchange (exchange_id) ON DELETE CASCADE,
	unroutable		bigint NOT NULL DEFAULT 0
);

SELECT pg_catalog.pg_extension_config_dump('mq._exchange', '');
SELECT pg_catalog.pg_extension_config_dump('mq._exchange_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mq._binding', '');
SELECT pg_catalog.pg_extension_config_dump('mq._exchange_stats', '');

CREATE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._exchange
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
CREATE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._binding
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();

CREATE VIEW mq.exchanges AS
	SELECT e.exchange_name, e.type, ae.exchange_name AS alternate_exchange,
		   s.unroutable, e.created_at
	FROM mq._exchange e
		LEFT JOIN mq._exchange ae
			ON ae.exchange_id OPERATOR(pg_catalog.=) e.alternate_exchange_id
		LEFT JOIN mq._exchange_stats s
			ON s.exchange_id OPERATOR(pg_catalog.=) e.exchange_id;

CREATE VIEW mq.bindings AS
	SELECT s.exchange_name AS source,
		   coalesce(q.queue_name, d.exchange_name) AS destination,
		   CASE WHEN b.queue_id IS NOT NULL THEN 'queue' ELSE 'exchange' END
			   AS destination_type,
		   b.binding_key, b.arguments
	FROM mq._binding b
		JOIN mq._exchange s ON s.exchange_id OPERATOR(pg_catalog.=) b.source_id
		LEFT JOIN mq._queue q ON q.queue_id OPERATOR(pg_catalog.=) b.queue_id
		LEFT JOIN mq._exchange d ON d.exchange_id OPERATOR(pg_catalog.=) b.exchange_id;

/* The id of an exchange, or the usual errors. */
CREATE FUNCTION mq._exchange_id(exchange text) RETURNS int
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

CREATE FUNCTION mq.create_exchange(exchange text, type text DEFAULT 'direct',
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
		RAISE EXCEPTION 'invalid exchange type "%"', type
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

CREATE FUNCTION mq.drop_exchange(exchange text, if_exists bool DEFAULT false,
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
	LOCK TABLE mq._exchange IN SHARE ROW EXCLUSIVE MODE;
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
END;
$$;

/* Check binding arguments; returns them normalised ('{}' for NULL). */
CREATE FUNCTION mq._binding_arguments(source int, arguments jsonb) RETURNS jsonb
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
	IF arguments ? 'x-match' AND (jsonb_typeof(arguments -> 'x-match') <> 'string' OR
		arguments ->> 'x-match' NOT IN ('all', 'any', 'all-with-x', 'any-with-x')) THEN
		RAISE EXCEPTION 'invalid x-match value %', arguments -> 'x-match'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use "all", "any", "all-with-x" or "any-with-x".';
	END IF;
	RETURN arguments;
END;
$$;





/*
 * Bindings: one function does the work of bind, bind_exchange, unbind and
 * unbind_exchange.  dest_kind is 'queue' or 'exchange'.
 */
CREATE FUNCTION mq._change_binding(source text, dest_kind text, destination text,
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

CREATE FUNCTION mq.bind(exchange text, queue text, binding_key text DEFAULT '',
						arguments jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.bind()');
	PERFORM mq._change_binding(exchange, 'queue', queue, binding_key, arguments, true);
END;
$$;

CREATE FUNCTION mq.bind_exchange(source text, destination text,
								 binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.bind_exchange()');
	PERFORM mq._change_binding(source, 'exchange', destination, binding_key, arguments, true);
END;
$$;

CREATE FUNCTION mq.unbind(exchange text, queue text, binding_key text DEFAULT '',
						  arguments jsonb DEFAULT NULL) RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.unbind()');
	RETURN mq._change_binding(exchange, 'queue', queue, binding_key, arguments, false);
END;
$$;

CREATE FUNCTION mq.unbind_exchange(source text, destination text,
								   binding_key text DEFAULT '', arguments jsonb DEFAULT NULL)
RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._require_primary('mq.unbind_exchange()');
	RETURN mq._change_binding(source, 'exchange', destination, binding_key, arguments, false);
END;
$$;

/* Hot path: C (routing.c). */
CREATE FUNCTION mq.publish(
	exchange text,
	routing_key text,
	body jsonb,
	headers jsonb DEFAULT NULL,
	mandatory bool DEFAULT false,
	delay interval DEFAULT '0',
	priority int DEFAULT 0,
	dedup_key text DEFAULT NULL,
	group_key text DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'mq_publish' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.publish_batch(
	exchange text,
	routing_keys text[],
	bodies jsonb[],
	headers jsonb[] DEFAULT NULL,
	mandatory bool DEFAULT false,
	delay interval DEFAULT '0',
	priority int DEFAULT 0)
RETURNS SETOF int
AS 'MODULE_PATHNAME', 'mq_publish_batch' LANGUAGE C VOLATILE ROWS 100;

/* Topic matching on its own, for tests and for checking a binding key. */
CREATE FUNCTION mq._topic_matches(pattern text, routing_key text) RETURNS bool
	AS 'MODULE_PATHNAME', 'mq_topic_matches_sql' LANGUAGE C IMMUTABLE STRICT;

/* Privileges: mq.grant, mq.revoke, mq.grant_exchange, mq.revoke_exchange. */
CREATE FUNCTION mq._grantee(role text) RETURNS oid
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
	IF lower(role) = 'public' THEN
		RETURN 0;
	END IF;
	SELECT a.oid INTO r FROM pg_authid a WHERE a.rolname = role;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN r;
END;
$$;

CREATE FUNCTION mq._change_grant(kind text, name text, role text, privilege text,
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
		RAISE EXCEPTION 'invalid privilege "%" for %', privilege,
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

CREATE FUNCTION mq.grant(queue text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant('queue', queue, role, privilege, true) $$;

CREATE FUNCTION mq.revoke(queue text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant('queue', queue, role, privilege, false) $$;

CREATE FUNCTION mq.grant_exchange(exchange text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant('exchange', exchange, role, privilege, true) $$;

CREATE FUNCTION mq.revoke_exchange(exchange text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant('exchange', exchange, role, privilege, false) $$;

/* mq.privileges: who holds what, beyond owners and superusers */
CREATE VIEW mq.privileges AS
	SELECT p.object_type, coalesce(q.queue_name, e.exchange_name) AS object_name,
		   CASE WHEN p.grantee = 0 THEN 'public' ELSE a.rolname::text END AS grantee,
		   p.privilege
	FROM mq._privilege p
		LEFT JOIN mq._queue q ON p.object_type OPERATOR(pg_catalog.=) 'queue'
			AND q.queue_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN mq._exchange e ON p.object_type OPERATOR(pg_catalog.=) 'exchange'
			AND e.exchange_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) p.grantee;

/*
 * Roles reach mq only through its functions: the tables stay closed; the
 * schema and views are open; maintenance is for superusers (and the worker).
 */
GRANT USAGE ON SCHEMA mq TO PUBLIC;
GRANT SELECT ON mq.queues, mq.exchanges, mq.bindings, mq.privileges TO PUBLIC;
REVOKE EXECUTE ON FUNCTION mq.maintain(), mq._sweep(text),
	mq._queue_options(text, interval, int, text, interval, bigint, text, bool, interval, bool, interval, bool, bool),
	mq._create_storage(mq._queue), mq._change_grant(text, text, text, text, bool),
	mq._change_binding(text, text, text, text, jsonb, bool)
	FROM PUBLIC;

/* Triggers: row changes become messages (trigger.c). */
CREATE FUNCTION mq.send_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_send_trigger' LANGUAGE C;
CREATE FUNCTION mq.publish_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_publish_trigger' LANGUAGE C;

/* Monitoring: the Prometheus text exposition format. */
CREATE FUNCTION mq.metrics_prometheus() RETURNS text
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
		FOR m IN SELECT * FROM mq.metrics_all() LOOP
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
