/* mq 0.3.0 -> 0.4.0: fair queues, group_concurrency, rate limits */
\echo Use "ALTER EXTENSION mq UPDATE TO '0.4.0'" to load this file. \quit

/*
 * Five new queue options (README, "Fairness and limits"):
 *   fair              reads serve the groups (group_key) in turn
 *   group_concurrency at most this many messages of one group leased at once
 *   rate_limit        at most this many messages handed out per rate_interval
 *   rate_interval     the interval of both rate limits (1 second)
 *   group_rate_limit  the same per group
 * Existing queues get none of them and read as before.
 */
ALTER TABLE mq._queue
	ADD COLUMN fair bool NOT NULL DEFAULT false,
	ADD COLUMN group_concurrency int,
	ADD COLUMN rate_limit int,
	ADD COLUMN rate_interval interval NOT NULL DEFAULT '1 second',
	ADD COLUMN group_rate_limit int;

/* is mq's shared memory there (preloaded)?  Rate limits need it. */
CREATE FUNCTION mq._limits_available() RETURNS bool
AS 'MODULE_PATHNAME', 'mq_limits_available_sql' LANGUAGE C STRICT VOLATILE;

/* reads held back by the rate limits, for mq.metrics() */
CREATE FUNCTION mq._limit_stats(queue_id int, OUT held_back bigint, OUT group_held_back bigint)
AS 'MODULE_PATHNAME', 'mq_limit_stats' LANGUAGE C STRICT VOLATILE;

/*
 * The indexes the options need, made or dropped to match them:
 * q_<id>_group (group_key, msg_id) for FIFO queues only (0.3.0 made it on
 * every queue; a queue that is not FIFO loses it at its next alter_queue:
 * an index fewer to write for sends with a group key and for leases that
 * are not HOT), q_<id>_fair (priority DESC, group_key, msg_id) for the walk from group to
 * group of a fair queue, q_<id>_inflight (group_key, vt) for counting a
 * group's leased messages under group_concurrency (with it, a lease is no
 * longer a HOT update).
 */
CREATE FUNCTION mq._queue_indexes(r mq._queue) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	group_index text := 'q_' || r.queue_id || '_group';
	fair_index text := 'q_' || r.queue_id || '_fair';
	inflight_index text := 'q_' || r.queue_id || '_inflight';
	has_group bool := to_regclass(format('mq.%I', group_index)) IS NOT NULL;
	has_fair bool := to_regclass(format('mq.%I', fair_index)) IS NOT NULL;
	has_inflight bool := to_regclass(format('mq.%I', inflight_index)) IS NOT NULL;
BEGIN
	/* FIFO groups: is there an earlier message of this group? */
	IF r.fifo AND NOT has_group THEN
		EXECUTE format('CREATE INDEX %I ON mq.%I (group_key, msg_id) WHERE group_key IS NOT NULL',
					   group_index, 'q_' || r.queue_id);
	ELSIF NOT r.fifo AND has_group THEN
		EXECUTE format('DROP INDEX mq.%I', group_index);
	END IF;
	IF r.fair AND NOT has_fair THEN
		EXECUTE format('CREATE INDEX %I ON mq.%I (priority DESC, group_key, msg_id)',
					   fair_index, 'q_' || r.queue_id);
	ELSIF NOT r.fair AND has_fair THEN
		EXECUTE format('DROP INDEX mq.%I', fair_index);
	END IF;
	IF r.group_concurrency IS NOT NULL AND NOT has_inflight THEN
		EXECUTE format('CREATE INDEX %I ON mq.%I (group_key, vt) WHERE group_key IS NOT NULL',
					   inflight_index, 'q_' || r.queue_id);
	ELSIF r.group_concurrency IS NULL AND has_inflight THEN
		EXECUTE format('DROP INDEX mq.%I', inflight_index);
	END IF;
END;
$$;

/* create_queue and alter_queue take the new options: new signatures */
DROP FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool);
DROP FUNCTION mq.alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool);
DROP FUNCTION mq._create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool);
DROP FUNCTION mq._alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool);
DROP FUNCTION mq._queue_options(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool);

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
	notify bool,
	fair bool,
	group_concurrency int,
	rate_limit int,
	rate_interval interval,
	group_rate_limit int)
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
	IF fifo IS NULL OR archive IS NULL OR unlogged IS NULL OR notify IS NULL OR fair IS NULL THEN
		RAISE EXCEPTION 'fifo, archive, unlogged, notify and fair must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF group_concurrency < 0 THEN
		RAISE EXCEPTION 'group_concurrency must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive count, or 0 or NULL for no limit.';
	END IF;
	IF fifo AND group_concurrency > 1 THEN
		RAISE EXCEPTION 'a FIFO queue has at most one message of a group in flight'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('group_concurrency is %s.', group_concurrency),
				  HINT = 'Leave group_concurrency unset on a FIFO queue, or use a queue that is not FIFO.';
	END IF;
	IF rate_limit < 0 THEN
		RAISE EXCEPTION 'rate_limit must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive count of messages per rate_interval, or 0 or NULL for no limit.';
	END IF;
	IF group_rate_limit < 0 THEN
		RAISE EXCEPTION 'group_rate_limit must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive count of messages per rate_interval, or 0 or NULL for no limit.';
	END IF;
	IF rate_interval IS NULL OR rate_interval < interval '0' OR rate_interval > interval '100 years' THEN
		RAISE EXCEPTION 'rate_interval must not be negative or over 100 years'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an interval such as ''1 second'' (0 sets it back to 1 second).';
	END IF;
	IF (rate_limit > 0 OR group_rate_limit > 0) AND NOT mq._limits_available() THEN
		RAISE EXCEPTION 'rate limits need mq in shared_preload_libraries'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The token buckets are in shared memory, which mq has only when preloaded.',
				  HINT = 'Add mq to shared_preload_libraries in postgresql.conf and restart.';
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
	r.fair := fair;
	r.group_concurrency := nullif(group_concurrency, 0);
	r.rate_limit := nullif(rate_limit, 0);
	r.rate_interval := CASE WHEN rate_interval = interval '0' THEN interval '1 second'
						   ELSE rate_interval END;
	r.group_rate_limit := nullif(group_rate_limit, 0);

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

CREATE FUNCTION mq._create_queue(
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
	notify bool DEFAULT false,
	fair bool DEFAULT false,
	group_concurrency int DEFAULT NULL,
	rate_limit int DEFAULT NULL,
	rate_interval interval DEFAULT '1 second',
	group_rate_limit int DEFAULT NULL)
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
						   notify, fair, group_concurrency, rate_limit,
						   rate_interval, group_rate_limit);

	IF EXISTS (SELECT 1 FROM mq._stream s WHERE s.stream_name = queue) THEN
		RAISE EXCEPTION 'a stream named "%" exists', queue
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'Queues and streams share one namespace (a binding names either).',
				  HINT = 'Choose another name for the queue.';
	END IF;
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
			(12, 'notify', old.notify IS DISTINCT FROM r.notify),
			(13, 'fair', old.fair IS DISTINCT FROM r.fair),
			(14, 'group_concurrency', old.group_concurrency IS DISTINCT FROM r.group_concurrency),
			(15, 'rate_limit', old.rate_limit IS DISTINCT FROM r.rate_limit),
			(16, 'rate_interval', old.rate_interval IS DISTINCT FROM r.rate_interval),
			(17, 'group_rate_limit', old.group_rate_limit IS DISTINCT FROM r.group_rate_limit)
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
						   unlogged, notify, owner, fair, group_concurrency,
						   rate_limit, rate_interval, group_rate_limit)
	VALUES (queue, r.visibility_timeout, r.max_receives,
			r.dead_letter_queue_id, r.message_ttl, r.max_length,
			r.overflow, r.fifo, r.dedup_window, r.archive, r.retention,
			r.unlogged, r.notify, mq._caller(), r.fair, r.group_concurrency,
			r.rate_limit, r.rate_interval, r.group_rate_limit)
	RETURNING * INTO r;
	INSERT INTO mq._queue_stats (queue_id) VALUES (r.queue_id);
	PERFORM mq._create_storage(r);
END;
$$;

CREATE FUNCTION mq._alter_queue(
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
	notify bool DEFAULT NULL,
	fair bool DEFAULT NULL,
	group_concurrency int DEFAULT NULL,
	rate_limit int DEFAULT NULL,
	rate_interval interval DEFAULT NULL,
	group_rate_limit int DEFAULT NULL)
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
		coalesce(notify, old.notify),
		coalesce(fair, old.fair),
		coalesce(group_concurrency, old.group_concurrency),
		coalesce(rate_limit, old.rate_limit),
		coalesce(rate_interval, old.rate_interval),
		coalesce(group_rate_limit, old.group_rate_limit));

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
		notify = r.notify,
		fair = r.fair,
		group_concurrency = r.group_concurrency,
		rate_limit = r.rate_limit,
		rate_interval = r.rate_interval,
		group_rate_limit = r.group_rate_limit
	WHERE q.queue_id = qid;
	r.queue_id := qid;
	PERFORM mq._queue_indexes(r);

	IF r.unlogged <> old.unlogged THEN
		persistence := CASE WHEN r.unlogged THEN 'UNLOGGED' ELSE 'LOGGED' END;
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'q_' || qid, persistence);
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'a_' || qid, persistence);
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'd_' || qid, persistence);
	END IF;
END;
$$;

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
	/* the indexes that options need (FIFO groups, fair, group_concurrency) */
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
	PERFORM mq._queue_indexes(r);
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
	notify bool DEFAULT false,
	fair bool DEFAULT false,
	group_concurrency int DEFAULT NULL,
	rate_limit int DEFAULT NULL,
	rate_interval interval DEFAULT '1 second',
	group_rate_limit int DEFAULT NULL)
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
	notify bool DEFAULT NULL,
	fair bool DEFAULT NULL,
	group_concurrency int DEFAULT NULL,
	rate_limit int DEFAULT NULL,
	rate_interval interval DEFAULT NULL,
	group_rate_limit int DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;

REVOKE EXECUTE ON FUNCTION
	mq._create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int),
	mq._alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int),
	mq._queue_options(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int),
	mq._queue_indexes(mq._queue), mq._limit_stats(int), mq._limits_available()
	FROM PUBLIC;

COMMENT ON FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int)
	IS 'Create a queue (a no-op if it exists with the same options).';
COMMENT ON FUNCTION mq.alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int)
	IS 'Change options of a queue: NULL keeps one, 0 or an empty string clears an optional one.';

/* the views and the metrics show the new options at work */
CREATE OR REPLACE VIEW mq.queues AS
	SELECT q.queue_name, q.visibility_timeout, q.max_receives,
		   d.queue_name AS dead_letter_queue, q.message_ttl, q.max_length,
		   q.overflow, q.fifo, q.dedup_window, q.archive, q.retention,
		   q.unlogged, q.notify, q.created_at, a.rolname AS owner,
		   q.fair, q.group_concurrency, q.rate_limit, q.rate_interval,
		   q.group_rate_limit
	FROM mq._queue q LEFT JOIN mq._queue d
		ON d.queue_id OPERATOR(pg_catalog.=) q.dead_letter_queue_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) q.owner;

ALTER TYPE mq.queue_metrics
	ADD ATTRIBUTE groups_visible bigint,
	ADD ATTRIBUTE groups_at_limit bigint,
	ADD ATTRIBUTE rate_limited_reads bigint,
	ADD ATTRIBUTE group_rate_limited bigint;

CREATE OR REPLACE FUNCTION mq._metrics(queue text) RETURNS mq.queue_metrics
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	qid int := mq._queue_id(queue);
	gc int;
	m mq.queue_metrics;
BEGIN
	PERFORM mq._check_privilege('queue', queue, 'any');
	m.queue_name := queue;
	m.scrape_time := clock_timestamp();
	SELECT s.dead_lettered, s.expired, s.dropped
		INTO m.dead_lettered, m.expired, m.dropped
		FROM mq._queue_stats s WHERE s.queue_id = qid;
	SELECT l.held_back, l.group_held_back INTO m.rate_limited_reads, m.group_rate_limited
		FROM mq._limit_stats(qid) l;
	/* an unlogged queue has no content on a standby: its counts are unknown */
	IF pg_is_in_recovery() AND (SELECT q.unlogged FROM mq._queue q WHERE q.queue_id = qid) THEN
		RETURN m;
	END IF;
	/* groups: messages without a key count as one group */
	EXECUTE format($q$
		SELECT count(*),
			   count(*) FILTER (WHERE vt <= $1),
			   count(*) FILTER (WHERE vt > $1 AND read_ct > 0),
			   count(*) FILTER (WHERE vt > $1 AND read_ct = 0),
			   $1 - min(enqueued_at),
			   $1 - max(enqueued_at),
			   count(DISTINCT group_key) FILTER (WHERE vt <= $1) +
			   (count(*) FILTER (WHERE vt <= $1 AND group_key IS NULL) > 0)::int
		FROM mq.%I$q$, 'q_' || qid)
		INTO m.queue_length, m.visible, m.in_flight, m.delayed,
			 m.oldest_msg_age, m.newest_msg_age, m.groups_visible
		USING m.scrape_time;
	SELECT q.group_concurrency INTO gc FROM mq._queue q WHERE q.queue_id = qid;
	IF gc IS NOT NULL THEN
		EXECUTE format($q$
			SELECT count(*) FROM (SELECT 1 FROM mq.%I
				WHERE group_key IS NOT NULL AND vt > $1 AND read_ct > 0
				GROUP BY group_key HAVING count(*) >= $2) g$q$, 'q_' || qid)
			INTO m.groups_at_limit
			USING m.scrape_time, gc;
	ELSE
		m.groups_at_limit := 0;
	END IF;
	EXECUTE format('SELECT count(*) FROM mq.%I', 'a_' || qid)
		INTO m.archive_length;
	RETURN m;
END;
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
		(9, 'mq_queue_dropped_total', 'counter', 'Messages dropped by overflow drop_head.'),
		(10, 'mq_queue_groups_visible', 'gauge', 'Groups (group_key) with visible messages.'),
		(11, 'mq_queue_groups_at_limit', 'gauge', 'Groups with group_concurrency messages leased.'),
		(12, 'mq_queue_rate_limited_reads_total', 'counter', 'Reads the rate_limit held back (since the server started).'),
		(13, 'mq_queue_group_rate_limited_total', 'counter', 'Groups a group_rate_limit held back in reads (since the server started).')
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
					WHEN 9 THEN m.dropped::text
					WHEN 10 THEN m.groups_visible::text
					WHEN 11 THEN m.groups_at_limit::text
					WHEN 12 THEN m.rate_limited_reads::text
					WHEN 13 THEN m.group_rate_limited::text END, 'NaN'));
		END LOOP;
	END LOOP;
	RETURN out;
END;
$$;

/*
 * Streams, part one (README, "Streams"): partitioned, retained logs.  This
 * part has the streams, appends with positions dense in commit order
 * (stream.c) and replay without a group; consumer groups, retention and the
 * rest come next.  Records live in segment tables mq.s_<id>_<segment>; only
 * segment 1 exists so far.
 */
CREATE SEQUENCE mq._stream_id_seq AS int;
CREATE TABLE mq._stream (
	stream_id		int PRIMARY KEY DEFAULT nextval('mq._stream_id_seq'),
	stream_name		text COLLATE "C" NOT NULL UNIQUE,
	partitions		int NOT NULL CHECK (partitions > 0),
	retention		interval NOT NULL,
	retention_bytes	bigint,
	unlogged		bool NOT NULL,
	owner			oid NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE mq._stream_id_seq OWNED BY mq._stream.stream_id;
CREATE TABLE mq._stream_segment (
	stream_id		int NOT NULL REFERENCES mq._stream (stream_id) ON DELETE CASCADE,
	segment			int NOT NULL,
	opened_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (stream_id, segment)
);
SELECT pg_catalog.pg_extension_config_dump('mq._stream', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_segment', '');

CREATE TYPE mq.stream_position AS (partition int, position bigint);
CREATE TYPE mq.stream_record AS (
	partition	int,
	position	bigint,
	key			text,
	headers		jsonb,
	body		jsonb,
	appended_at	timestamptz
);

CREATE VIEW mq.streams AS
	SELECT s.stream_name AS stream, s.partitions, s.retention, s.retention_bytes,
		   s.unlogged, s.created_at, a.rolname AS owner
	FROM mq._stream s
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) s.owner;
GRANT SELECT ON mq.streams TO PUBLIC;

/* the options of a stream, checked; NULL where alter keeps */
CREATE FUNCTION mq._stream_options(partitions int, retention interval, retention_bytes bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF partitions IS NOT NULL AND (partitions < 1 OR partitions > 1024) THEN
		RAISE EXCEPTION 'partitions must be between 1 and 1024'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a few partitions per consumer you expect, such as 8.';
	END IF;
	IF retention IS NOT NULL AND (retention < interval '0' OR retention > interval '100 years') THEN
		RAISE EXCEPTION 'retention must not be negative or over 100 years'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an interval such as ''7 days''.';
	END IF;
	IF retention_bytes < 0 THEN
		RAISE EXCEPTION 'retention_bytes must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a size in bytes per partition, or 0 or NULL for no limit.';
	END IF;
END;
$$;

CREATE FUNCTION mq._create_stream(stream text, partitions int DEFAULT 1,
								  retention interval DEFAULT '7 days',
								  retention_bytes bigint DEFAULT NULL,
								  unlogged bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.create_stream()') IS NULL;
	old mq._stream;
	sid int;
	diff text;
BEGIN
	PERFORM mq._check_name(stream, 'stream');
	IF partitions IS NULL OR retention IS NULL OR unlogged IS NULL THEN
		RAISE EXCEPTION 'partitions, retention and unlogged must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM mq._stream_options(partitions, retention, retention_bytes);
	LOCK TABLE mq._queue IN SHARE ROW EXCLUSIVE MODE;
	IF EXISTS (SELECT 1 FROM mq._queue q WHERE q.queue_name = stream) THEN
		RAISE EXCEPTION 'a queue named "%" exists', stream
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'Queues and streams share one namespace (a binding names either).',
				  HINT = 'Choose another name for the stream.';
	END IF;
	SELECT * INTO old FROM mq._stream s WHERE s.stream_name = stream;
	IF FOUND THEN
		PERFORM mq._stream_managed(stream);	/* the owner's or a superuser's */
		SELECT string_agg(o.name, ', ' ORDER BY o.ord) INTO diff
		FROM (VALUES
			(1, 'partitions', old.partitions IS DISTINCT FROM partitions),
			(2, 'retention', old.retention IS DISTINCT FROM retention),
			(3, 'retention_bytes', old.retention_bytes IS DISTINCT FROM nullif(retention_bytes, 0)),
			(4, 'unlogged', old.unlogged IS DISTINCT FROM unlogged)
		) AS o(ord, name, differs)
		WHERE o.differs;
		IF diff IS NULL THEN
			RETURN;
		END IF;
		RAISE EXCEPTION 'stream "%" already exists with different options', stream
			USING ERRCODE = 'duplicate_object',
				  DETAIL = format('These options differ: %s.', diff),
				  HINT = 'Use mq.alter_stream() to change the options of an existing stream.';
	END IF;
	INSERT INTO mq._stream (stream_name, partitions, retention, retention_bytes, unlogged, owner)
	VALUES (stream, partitions, retention, nullif(retention_bytes, 0), unlogged, mq._caller())
	RETURNING stream_id INTO sid;
	INSERT INTO mq._stream_segment (stream_id, segment) VALUES (sid, 1);
	EXECUTE format($ddl$
		CREATE %sTABLE mq.%I (
			partition	int NOT NULL,
			position	bigint NOT NULL,
			key			text,
			headers		jsonb,
			body		jsonb NOT NULL,
			appended_at	timestamptz NOT NULL,
			PRIMARY KEY (partition, position)
		)$ddl$, CASE WHEN unlogged THEN 'UNLOGGED ' ELSE '' END, 's_' || sid || '_1');
END;
$$;

/* the stream's row, for its owner or a superuser; else an error */
CREATE FUNCTION mq._stream_managed(stream text) RETURNS mq._stream
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r mq._stream;
BEGIN
	PERFORM mq._check_name(stream, 'stream');
	SELECT * INTO r FROM mq._stream s WHERE s.stream_name = stream;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'stream "%" does not exist', stream
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with mq.create_stream().';
	END IF;
	IF r.owner <> mq._caller() AND NOT (SELECT rolsuper FROM pg_roles WHERE oid = mq._caller()) THEN
		RAISE EXCEPTION 'permission denied for stream "%"', stream
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only the stream''s owner and superusers manage it.';
	END IF;
	RETURN r;
END;
$$;

CREATE FUNCTION mq._alter_stream(stream text, partitions int DEFAULT NULL,
								 retention interval DEFAULT NULL,
								 retention_bytes bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.alter_stream()') IS NULL;
	r mq._stream;
BEGIN
	LOCK TABLE mq._queue IN SHARE ROW EXCLUSIVE MODE;
	r := mq._stream_managed(stream);
	PERFORM mq._stream_options(partitions, retention, retention_bytes);
	IF partitions < r.partitions THEN
		RAISE EXCEPTION 'the partitions of a stream can only grow'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('Stream "%s" has %s partitions.', stream, r.partitions),
				  HINT = 'Keys map to partitions by their number: fewer would move them.';
	END IF;
	UPDATE mq._stream s SET
		partitions = coalesce(_alter_stream.partitions, s.partitions),
		retention = coalesce(_alter_stream.retention, s.retention),
		retention_bytes = CASE WHEN _alter_stream.retention_bytes IS NULL THEN s.retention_bytes
							   ELSE nullif(_alter_stream.retention_bytes, 0) END
	WHERE s.stream_id = r.stream_id;
END;
$$;

CREATE FUNCTION mq._stream_forget(stream_id int) RETURNS void
AS 'MODULE_PATHNAME', 'mq_stream_forget' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION mq._drop_stream(stream text, if_exists bool DEFAULT false)
RETURNS bool
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.drop_stream()') IS NULL;
	r mq._stream;
	seg int;
BEGIN
	PERFORM mq._check_name(stream, 'stream');
	LOCK TABLE mq._queue IN SHARE ROW EXCLUSIVE MODE;
	IF if_exists AND NOT EXISTS (SELECT 1 FROM mq._stream s WHERE s.stream_name = stream) THEN
		RAISE NOTICE 'stream "%" does not exist, skipping', stream;
		RETURN false;
	END IF;
	r := mq._stream_managed(stream);
	FOR seg IN SELECT g.segment FROM mq._stream_segment g WHERE g.stream_id = r.stream_id LOOP
		EXECUTE format('DROP TABLE IF EXISTS mq.%I', 's_' || r.stream_id || '_' || seg);
	END LOOP;
	DELETE FROM mq._stream s WHERE s.stream_id = r.stream_id;
	PERFORM mq._stream_forget(r.stream_id);
	RETURN true;
END;
$$;

CREATE FUNCTION mq.create_stream(stream text, partitions int DEFAULT 1,
								 retention interval DEFAULT '7 days',
								 retention_bytes bigint DEFAULT NULL,
								 unlogged bool DEFAULT false)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.alter_stream(stream text, partitions int DEFAULT NULL,
								retention interval DEFAULT NULL,
								retention_bytes bigint DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.drop_stream(stream text, if_exists bool DEFAULT false)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;

CREATE FUNCTION mq.append(stream text, body jsonb, key text DEFAULT NULL,
						  headers jsonb DEFAULT NULL)
RETURNS mq.stream_position AS 'MODULE_PATHNAME', 'mq_append' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.append_batch(stream text, bodies jsonb[], keys text[] DEFAULT NULL,
								headers jsonb[] DEFAULT NULL)
RETURNS SETOF mq.stream_position AS 'MODULE_PATHNAME', 'mq_append_batch' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.read_stream(stream text, partition int, from_position bigint,
							   max int DEFAULT 100)
RETURNS SETOF mq.stream_record AS 'MODULE_PATHNAME', 'mq_read_stream' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.stream_partition(key text, partitions int)
RETURNS int AS 'MODULE_PATHNAME', 'mq_stream_partition' LANGUAGE C IMMUTABLE STRICT;

REVOKE EXECUTE ON FUNCTION mq._create_stream(text, int, interval, bigint, bool),
	mq._alter_stream(text, int, interval, bigint), mq._drop_stream(text, bool),
	mq._stream_managed(text), mq._stream_options(int, interval, bigint), mq._stream_forget(int)
	FROM PUBLIC;

COMMENT ON FUNCTION mq.create_stream(text, int, interval, bigint, bool)
	IS 'Create a stream: a partitioned, retained log (a no-op if it exists with the same options).';
COMMENT ON FUNCTION mq.alter_stream(text, int, interval, bigint)
	IS 'Change a stream''s options: partitions may only grow; NULL keeps, 0 clears retention_bytes.';
COMMENT ON FUNCTION mq.drop_stream(text, bool) IS 'Drop a stream and its records.';
COMMENT ON FUNCTION mq.append(text, jsonb, text, jsonb)
	IS 'Append a record; returns its partition and position.';
COMMENT ON FUNCTION mq.append_batch(text, jsonb[], text[], jsonb[])
	IS 'Append records in one call; returns their partitions and positions in order.';
COMMENT ON FUNCTION mq.read_stream(text, int, bigint, int)
	IS 'Replay up to max records of a partition from a position, without a consumer group.';
COMMENT ON FUNCTION mq.stream_partition(text, int)
	IS 'The partition of a key: FNV-1a (32 bits) of its bytes modulo the partitions.';
COMMENT ON VIEW mq.streams IS 'Every stream with its options and owner.';
COMMENT ON TYPE mq.stream_position IS 'Where mq.append() put a record.';
COMMENT ON TYPE mq.stream_record IS 'A record as mq.read_stream() returns it.';
