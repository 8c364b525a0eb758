/*
 * queue.sql: queues -- their options, their tables, creating, altering and
 * dropping them (in SQL: rare), and the C entry points of the hot path
 * (send, read, ack: queue.c) -- and the view mq.queues.
 */

/* The id of a queue, or the usual errors (queue.c). */
CREATE OR REPLACE FUNCTION mq._queue_id(queue text) RETURNS int
	AS 'MODULE_PATHNAME', 'mq_queue_id_sql' LANGUAGE C STABLE;

/*
 * Validate and normalise queue options.  For the options that may be absent,
 * zero (or '' for a queue name) means "none", so alter_queue can clear them.
 * Returns a catalog row carrying the normalised options.  Intervals are at
 * most 100 years (queue.h): "now minus an interval" must stay in range for
 * mq.maintain().  Names that are not valid are echoed clipped.
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
	notify bool,
	fair bool,
	group_concurrency int,
	rate_limit int,
	rate_interval interval,
	group_rate_limit int,
	durability text,
	min_replicas int)
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
	IF mq._interval_too_long(visibility_timeout) THEN
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
	IF mq._interval_too_long(message_ttl) THEN
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
	IF mq._interval_too_long(dedup_window) THEN
		RAISE EXCEPTION 'dedup_window must be at most 100 years'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an interval such as ''5 minutes'', or 0 to forget keys at ack.';
	END IF;
	IF retention < interval '0' THEN
		RAISE EXCEPTION 'retention must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a positive interval, or 0 or NULL to keep archived messages forever.';
	END IF;
	IF mq._interval_too_long(retention) THEN
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
	IF rate_interval IS NULL OR rate_interval < interval '0' OR mq._interval_too_long(rate_interval) THEN
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
	r.durability := durability;
	r.min_replicas := mq._durability_options('queue', durability, min_replicas, unlogged);

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

/*
 * Create the storage of queue r (already in the catalog).
 *
 * A queue table's pages are filled to half: a message is nearly always
 * leased once and then acked, and a lease is an update of the same size,
 * so the half left free holds a new version of every message on the page.
 * The update is then HOT (no new index entries) even while a snapshot held
 * elsewhere keeps pages from being pruned (at fillfactor 80 only a quarter
 * to a third of the leases found room then: test/sql/storage.sql).
 */
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
			body		jsonb,
			payload		bytea,
			content_type text,
			content_encoding text,
			correlation_id text,
			reply_to	text,
			expires_at	timestamptz,
			sent_by		text
		) WITH (fillfactor = 50)$ddl$, kind, 'q_' || r.queue_id);
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
			body		jsonb,
			archived_at	timestamptz NOT NULL,
			payload		bytea,
			content_type text,
			content_encoding text,
			correlation_id text,
			reply_to	text,
			expires_at	timestamptz,
			sent_by		text
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
	/* rows written by others than mq move the scan hint too (queue_table.c) */
	EXECUTE format('CREATE TRIGGER mq_table_changed AFTER INSERT OR UPDATE ON mq.%I'
				   ' FOR EACH STATEMENT EXECUTE FUNCTION mq._table_changed()',
				   'q_' || r.queue_id);
	PERFORM mq._queue_indexes(r);
END;
$$;

/*
 * The indexes the options need, made or dropped to match them:
 * q_<id>_group (group_key, msg_id) for FIFO queues only (0.3.0 made it on
 * every queue; a queue that is not FIFO loses it at its next alter_queue:
 * an index fewer to write for sends with a group key and for leases that
 * are not HOT), q_<id>_fair (priority DESC, group_key, msg_id) for the walk
 * from group to group of a fair queue, q_<id>_inflight (group_key, vt) for
 * counting a group's leased messages under group_concurrency (with it, a
 * lease is no longer a HOT update).
 */
CREATE OR REPLACE FUNCTION mq._queue_indexes(r mq._queue) RETURNS void
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

/*
 * Every message table has a statement trigger that resets the queue's scan
 * hint when somebody other than mq inserts or updates rows (an INSERT by
 * hand), so the hints need no distrusting: a scan from the start of a queue
 * walks every dead entry that a held snapshot keeps, and that walk made
 * reads collapse behind a long transaction.
 */
CREATE OR REPLACE FUNCTION mq._table_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'mq_table_changed' LANGUAGE C;

/*
 * FIFO groups: a message of a group held back by an older one that a
 * transaction in progress sends (queue_take.c), on the SQL path too.
 */
CREATE OR REPLACE FUNCTION mq._group_has_older(queue_table oid, group_key text, msg_id bigint)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_group_has_older' LANGUAGE C STRICT VOLATILE;

/*
 * Messages put into a queue by SQL that mq does not see (mq.redrive()) are
 * announced: the queue's scan hint is reset and waiting readers are woken at
 * commit (queue.c).
 */
CREATE OR REPLACE FUNCTION mq._announce(queue text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_announce' LANGUAGE C STRICT VOLATILE;

/* How many of n messages fit into a queue with max_length (queue.c). */
CREATE OR REPLACE FUNCTION mq._make_room(queue text, n bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'mq_make_room' LANGUAGE C STRICT VOLATILE;

/* is mq's shared memory there (preloaded)?  Rate limits need it. */
CREATE OR REPLACE FUNCTION mq._limits_available() RETURNS bool
AS 'MODULE_PATHNAME', 'mq_limits_available_sql' LANGUAGE C STRICT VOLATILE;

/* reads held back by the rate limits, for mq.metrics() */
CREATE OR REPLACE FUNCTION mq._limit_stats(queue_id int, OUT held_back bigint, OUT group_held_back bigint)
AS 'MODULE_PATHNAME', 'mq_limit_stats' LANGUAGE C STRICT VOLATILE;

/*
 * A dropped queue's rate buckets (only its groups' with groups_only) leave
 * shared memory when the transaction commits (queue_limit.c)
 */
CREATE OR REPLACE FUNCTION mq._queue_forget(queue_id int, groups_only bool) RETURNS void
AS 'MODULE_PATHNAME', 'mq_queue_forget' LANGUAGE C STRICT VOLATILE;

/*
 * Management functions record the role that called them (manage.c):
 * each is a C entry point, mq_manage(), in front of its SECURITY DEFINER
 * body, mq._<name>(), which is closed to PUBLIC (GetOuterUserId() is the
 * session's role even inside a SECURITY DEFINER function or an index
 * expression that ANALYZE evaluates as the table's owner).  The bodies
 * follow; the entry points come after them.
 */
CREATE OR REPLACE FUNCTION mq._create_queue(
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
	group_rate_limit int DEFAULT NULL,
	durability text DEFAULT 'local',
	min_replicas int DEFAULT NULL)
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
	/* serialise the changes of this name (not of others) */
	PERFORM mq._lock_name('queue', queue);
	r := mq._queue_options(queue, visibility_timeout, max_receives,
						   dead_letter_queue, message_ttl, max_length, overflow,
						   fifo, dedup_window, archive, retention, unlogged,
						   notify, fair, group_concurrency, rate_limit,
						   rate_interval, group_rate_limit, durability,
						   min_replicas);

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
			(17, 'group_rate_limit', old.group_rate_limit IS DISTINCT FROM r.group_rate_limit),
			(18, 'durability', old.durability IS DISTINCT FROM r.durability),
			(19, 'min_replicas', old.min_replicas IS DISTINCT FROM r.min_replicas)
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
						   rate_limit, rate_interval, group_rate_limit,
						   durability, min_replicas)
	VALUES (queue, r.visibility_timeout, r.max_receives,
			r.dead_letter_queue_id, r.message_ttl, r.max_length,
			r.overflow, r.fifo, r.dedup_window, r.archive, r.retention,
			r.unlogged, r.notify, mq._caller(), r.fair, r.group_concurrency,
			r.rate_limit, r.rate_interval, r.group_rate_limit,
			r.durability, r.min_replicas)
	RETURNING * INTO r;
	INSERT INTO mq._queue_stats (queue_id) VALUES (r.queue_id);
	PERFORM mq._create_storage(r);
EXCEPTION WHEN foreign_key_violation THEN
	/*
	 * Only a concurrent change of a linked object gets here (each change
	 * locks its own name only, and the catalog's foreign keys keep links
	 * whole): a queue or exchange this one names, or one that names it,
	 * was dropped or changed meanwhile.
	 */
	RAISE EXCEPTION 'could not create queue "%": an object it is linked to changed at the same time', left(queue, 64)
		USING ERRCODE = 'serialization_failure',
			  DETAIL = 'Another transaction changed or dropped a queue or exchange it is linked to (a dead-letter queue, an alternate exchange) meanwhile.',
			  HINT = 'Try again.';
END;
$$;

CREATE OR REPLACE FUNCTION mq._alter_queue(
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
	group_rate_limit int DEFAULT NULL,
	durability text DEFAULT NULL,
	min_replicas int DEFAULT NULL)
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
	PERFORM mq._lock_name('queue', queue);
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
		coalesce(group_rate_limit, old.group_rate_limit),
		coalesce(durability, old.durability),
		/* a queue made 'local' forgets its min_replicas */
		CASE WHEN min_replicas IS NOT NULL THEN min_replicas
			 WHEN coalesce(durability, old.durability) = 'replicated' THEN old.min_replicas END);

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
		group_rate_limit = r.group_rate_limit,
		durability = r.durability,
		min_replicas = r.min_replicas
	WHERE q.queue_id = qid;
	r.queue_id := qid;
	PERFORM mq._queue_indexes(r);
	/* the groups' rate buckets are of no more use */
	IF coalesce(old.group_rate_limit, 0) > 0 AND coalesce(r.group_rate_limit, 0) = 0 THEN
		PERFORM mq._queue_forget(qid, true);
	END IF;

	IF r.unlogged <> old.unlogged THEN
		persistence := CASE WHEN r.unlogged THEN 'UNLOGGED' ELSE 'LOGGED' END;
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'q_' || qid, persistence);
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'a_' || qid, persistence);
		EXECUTE format('ALTER TABLE mq.%I SET %s', 'd_' || qid, persistence);
	END IF;
EXCEPTION WHEN foreign_key_violation THEN
	/*
	 * Only a concurrent change of a linked object gets here (each change
	 * locks its own name only, and the catalog's foreign keys keep links
	 * whole): a queue or exchange this one names, or one that names it,
	 * was dropped or changed meanwhile.
	 */
	RAISE EXCEPTION 'could not alter queue "%": an object it is linked to changed at the same time', left(queue, 64)
		USING ERRCODE = 'serialization_failure',
			  DETAIL = 'Another transaction changed or dropped a queue or exchange it is linked to (a dead-letter queue, an alternate exchange) meanwhile.',
			  HINT = 'Try again.';
END;
$$;

CREATE OR REPLACE FUNCTION mq._drop_queue(queue text, if_exists bool DEFAULT false)
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
	PERFORM mq._lock_name('queue', queue);
	SELECT q.queue_id INTO qid FROM mq._queue q WHERE q.queue_name = queue;
	IF NOT FOUND THEN
		IF if_exists THEN
			RAISE NOTICE 'queue "%" does not exist, skipping', queue;
			RETURN false;
		END IF;
		PERFORM mq._queue_id(queue);	/* raises the usual error */
	END IF;
	PERFORM mq._check_privilege('queue', queue, 'manage');

	/*
	 * The owner of a queue can always drop it: queues that name it as their
	 * dead-letter queue lose that setting (their dead letters go to their
	 * archive), as SQS and RabbitMQ let a dead-letter target go.
	 */
	SELECT string_agg(format('"%s"', q.queue_name), ', ' ORDER BY q.queue_name)
		INTO users
		FROM mq._queue q WHERE q.dead_letter_queue_id = qid;
	IF users IS NOT NULL THEN
		RAISE NOTICE 'queues % no longer have a dead-letter queue', users
			USING DETAIL = format('Queue "%s" was their dead-letter queue; their dead letters now go to their archive.', queue);
		UPDATE mq._queue q SET dead_letter_queue_id = NULL WHERE q.dead_letter_queue_id = qid;
	END IF;

	EXECUTE format('DROP TABLE mq.%I, mq.%I, mq.%I',
				   'q_' || qid, 'a_' || qid, 'd_' || qid);
	DELETE FROM mq._privilege p WHERE p.object_type = 'queue' AND p.object_id = qid;
	DELETE FROM mq._queue q WHERE q.queue_id = qid;
	PERFORM mq._queue_forget(qid, false);
	RETURN true;
EXCEPTION WHEN foreign_key_violation THEN
	/*
	 * Only a concurrent change of a linked object gets here (each change
	 * locks its own name only, and the catalog's foreign keys keep links
	 * whole): a queue or exchange this one names, or one that names it,
	 * was dropped or changed meanwhile.
	 */
	RAISE EXCEPTION 'could not drop queue "%": an object it is linked to changed at the same time', left(queue, 64)
		USING ERRCODE = 'serialization_failure',
			  DETAIL = 'Another transaction changed or dropped a queue or exchange it is linked to (a dead-letter queue, an alternate exchange) meanwhile.',
			  HINT = 'Try again.';
END;
$$;

CREATE OR REPLACE FUNCTION mq._purge_queue(queue text) RETURNS bigint
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

/*
 * mq.peek(): a queue's messages as they are, without a lease: no lock on
 * them, no read count, no wakeup; readers go on as if nobody looked.  For
 * people and tools (mqctl peek, the console), with the read privilege, as a
 * read needs.  Without after_id, the first qty messages in delivery order
 * (priority, then msg_id), whatever their state; with it, those whose
 * msg_id is greater, in msg_id order (to page through a queue, or follow
 * its arrivals).
 */
CREATE OR REPLACE FUNCTION mq._peek(queue text, qty int DEFAULT 10, after_id bigint DEFAULT NULL)
RETURNS TABLE (msg_id bigint, state text, read_ct int, enqueued_at timestamptz,
			   vt timestamptz, priority int, group_key text, dedup_key text, headers jsonb,
			   body jsonb, payload bytea, content_type text, content_encoding text,
			   correlation_id text, reply_to text, expires_at timestamptz, sent_by text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tab text := 'q_' || mq._queue_id(queue);
BEGIN
	/* as mq.read() checks its qty (mq_check_count()) */
	IF qty IS NULL THEN
		RAISE EXCEPTION 'qty must not be null' USING ERRCODE = 'null_value_not_allowed';
	ELSIF qty < 1 THEN
		RAISE EXCEPTION 'qty must be at least 1' USING ERRCODE = 'invalid_parameter_value';
	ELSIF qty > current_setting('mq.max_batch_size')::int THEN
		RAISE EXCEPTION 'qty % exceeds mq.max_batch_size (%)', qty, current_setting('mq.max_batch_size')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Split the work into batches of at most %s messages, or raise mq.max_batch_size.',
								current_setting('mq.max_batch_size'));
	END IF;
	PERFORM mq._check_privilege('queue', queue, 'read');
	RETURN QUERY EXECUTE format($q$
		SELECT m.msg_id,
			   CASE WHEN m.expires_at <= now() THEN 'expired'
					WHEN m.vt <= now() THEN 'visible'
					WHEN m.read_ct > 0 THEN 'in_flight'
					ELSE 'delayed' END,
			   m.read_ct, m.enqueued_at, m.vt, m.priority, m.group_key, m.dedup_key,
			   m.headers, m.body, m.payload, m.content_type, m.content_encoding,
			   m.correlation_id, m.reply_to, m.expires_at, m.sent_by
		FROM mq.%I m
		WHERE $1 IS NULL OR m.msg_id > $1
		ORDER BY CASE WHEN $1 IS NULL THEN -m.priority END, m.msg_id
		LIMIT $2$q$, tab)
		USING after_id, qty;
END;
$$;

CREATE OR REPLACE FUNCTION mq._redrive(dead_letter_queue text, target text,
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
	waiting bigint;
	room bigint;
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
	/*
	 * The target's max_length holds as for a send (with overflow 'drop_head'
	 * its oldest messages make room); what does not fit stays where it is.
	 */
	IF EXISTS (SELECT 1 FROM mq._queue q WHERE q.queue_id = dst AND q.max_length IS NOT NULL) THEN
		EXECUTE format($q$SELECT count(*) FROM (SELECT 1 FROM mq.%I
						   WHERE read_ct = 0 OR vt <= clock_timestamp() LIMIT $1) s$q$,
					   'q_' || src)
			INTO waiting USING max_messages;
		room := mq._make_room(target, waiting);
		IF room < waiting THEN
			RAISE NOTICE 'queue "%" is full: % of % messages stay in queue "%"',
				target, waiting - room, waiting, dead_letter_queue
				USING HINT = 'Consume messages from it, or raise its max_length with mq.alter_queue().';
		END IF;
		max_messages := room;
	END IF;
	/* oldest first, skipping messages that a reader of the DLQ holds */
	EXECUTE format($q$
		WITH c AS (SELECT msg_id FROM mq.%1$I
				   WHERE read_ct = 0 OR vt <= clock_timestamp()
				   ORDER BY msg_id LIMIT $1 FOR UPDATE SKIP LOCKED),
			 d AS (DELETE FROM mq.%1$I m USING c WHERE m.msg_id = c.msg_id
				   RETURNING m.*),
			 i AS (INSERT INTO mq.%2$I (enqueued_at, vt, priority, group_key, headers, body,
										payload, content_type, content_encoding,
										correlation_id, reply_to, sent_by)
				   SELECT clock_timestamp(), clock_timestamp(), d.priority,
						  d.group_key, d.headers, d.body, d.payload, d.content_type,
						  d.content_encoding, d.correlation_id, d.reply_to, d.sent_by
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

/* The entry points (mq_manage() calls the body of the same name). */
CREATE OR REPLACE FUNCTION mq.create_queue(
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
	group_rate_limit int DEFAULT NULL,
	durability text DEFAULT 'local',
	min_replicas int DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int, text, int)
	IS 'Create a queue (a no-op if it exists with the same options).';

CREATE OR REPLACE FUNCTION mq.alter_queue(
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
	group_rate_limit int DEFAULT NULL,
	durability text DEFAULT NULL,
	min_replicas int DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int, text, int)
	IS 'Change options of a queue: NULL keeps one, 0 or an empty string clears an optional one.';

CREATE OR REPLACE FUNCTION mq.drop_queue(queue text, if_exists bool DEFAULT false)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.drop_queue(text, bool) IS 'Drop a queue and its messages.';

CREATE OR REPLACE FUNCTION mq.purge_queue(queue text)
RETURNS bigint AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.purge_queue(text) IS 'Delete every message of a queue; returns how many.';

CREATE OR REPLACE FUNCTION mq.peek(queue text, qty int DEFAULT 10, after_id bigint DEFAULT NULL)
RETURNS TABLE (msg_id bigint, state text, read_ct int, enqueued_at timestamptz,
			   vt timestamptz, priority int, group_key text, dedup_key text, headers jsonb,
			   body jsonb, payload bytea, content_type text, content_encoding text,
			   correlation_id text, reply_to text, expires_at timestamptz, sent_by text)
AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.peek(text, int, bigint)
	IS 'A queue''s messages with their state, without leasing them (needs read).';

CREATE OR REPLACE FUNCTION mq.redrive(dead_letter_queue text, target text,
						   max_messages bigint DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.redrive(text, text, bigint)
	IS 'Move messages of a dead-letter queue back to a queue; returns how many.';

/* Hot path: C (queue.c). */
/*
 * A message is a JSON body or a bytes payload (doc/messages.md); the
 * payload and the properties come after 0.7.0's parameters, so that every
 * call of 0.7.0 means what it meant.
 */
CREATE OR REPLACE FUNCTION mq.send(
	queue text,
	body jsonb DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_key text DEFAULT NULL,
	group_key text DEFAULT NULL,
	priority int DEFAULT 0,
	payload bytea DEFAULT NULL,
	content_type text DEFAULT NULL,
	content_encoding text DEFAULT NULL,
	correlation_id text DEFAULT NULL,
	reply_to text DEFAULT NULL,
	ttl interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_send' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.send(text, jsonb, jsonb, interval, text, text, int, bytea, text, text,
							text, text, interval)
	IS 'Send a message (a JSON body or a bytes payload); returns its id (for a known dedup_key, the first message''s id).';

CREATE OR REPLACE FUNCTION mq.send_batch(
	queue text,
	bodies jsonb[] DEFAULT NULL,
	headers jsonb[] DEFAULT NULL,
	delay interval DEFAULT '0',
	dedup_keys text[] DEFAULT NULL,
	group_keys text[] DEFAULT NULL,
	priority int DEFAULT 0,
	payloads bytea[] DEFAULT NULL,
	content_types text[] DEFAULT NULL,
	content_encoding text DEFAULT NULL,
	correlation_ids text[] DEFAULT NULL,
	reply_to text DEFAULT NULL,
	ttl interval DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_send_batch' LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION mq.send_batch(text, jsonb[], jsonb[], interval, text[], text[], int, bytea[],
								  text[], text, text[], text, interval)
	IS 'Send messages (JSON bodies or bytes payloads) in one call; returns their ids in order.';

CREATE OR REPLACE FUNCTION mq.read(
	queue text,
	qty int DEFAULT 1,
	visibility_timeout interval DEFAULT NULL,
	wait interval DEFAULT '0')
RETURNS SETOF mq.message
AS 'MODULE_PATHNAME', 'mq_read' LANGUAGE C VOLATILE ROWS 1;
COMMENT ON FUNCTION mq.read(text, int, interval, interval)
	IS 'Lease up to qty visible messages for visibility_timeout, waiting up to wait for one.';

CREATE OR REPLACE FUNCTION mq.pop(queue text, qty int DEFAULT 1)
RETURNS SETOF mq.message
AS 'MODULE_PATHNAME', 'mq_pop' LANGUAGE C VOLATILE ROWS 1;
COMMENT ON FUNCTION mq.pop(text, int) IS 'Read and delete up to qty messages at once.';

CREATE OR REPLACE FUNCTION mq.ack(queue text, msg_id bigint) RETURNS bool
AS 'MODULE_PATHNAME', 'mq_ack' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.ack(text, bigint) IS 'Delete (on an archive queue, archive) a message.';

CREATE OR REPLACE FUNCTION mq.ack_batch(queue text, msg_ids bigint[]) RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_ack_many' LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.ack_batch(text, bigint[]) IS 'Ack messages; returns the ids acked.';

CREATE OR REPLACE FUNCTION mq.nack(queue text, msg_id bigint, delay interval DEFAULT '0')
RETURNS bool
AS 'MODULE_PATHNAME', 'mq_nack' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.nack(text, bigint, interval)
	IS 'Give a leased message back, visible again now or after delay.';

CREATE OR REPLACE FUNCTION mq.set_vt(queue text, msg_id bigint, visibility_timeout interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'mq_set_vt' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.set_vt(text, bigint, interval)
	IS 'Move the end of a lease to now plus visibility_timeout; returns the new end.';

CREATE OR REPLACE FUNCTION mq.archive(queue text, msg_id bigint) RETURNS bool
AS 'MODULE_PATHNAME', 'mq_archive_one' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.archive(text, bigint) IS 'Move a message to the queue''s archive.';

CREATE OR REPLACE FUNCTION mq.archive_batch(queue text, msg_ids bigint[]) RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_archive' LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.archive_batch(text, bigint[]) IS 'Archive messages; returns the ids archived.';

/*
 * Compact a queue's message table now: under its ACCESS EXCLUSIVE lock
 * (waited for as any lock: lock_timeout applies) the messages are copied
 * out, the table truncated and the messages put back, in the caller's
 * transaction; returns how many it kept.  The background worker does the
 * same by itself (mq.compact_threshold).
 */
CREATE OR REPLACE FUNCTION mq.compact_queue(queue text) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_compact_queue' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.compact_queue(text) IS
	'Rewrite a queue''s table without its dead row versions (copy, TRUNCATE, copy back); returns how many messages it kept.';

/* every queue with its options and owner */
CREATE OR REPLACE VIEW mq.queues AS
	SELECT q.queue_name, q.visibility_timeout, q.max_receives,
		   d.queue_name AS dead_letter_queue, q.message_ttl, q.max_length,
		   q.overflow, q.fifo, q.dedup_window, q.archive, q.retention,
		   q.unlogged, q.notify, q.created_at, a.rolname AS owner,
		   q.fair, q.group_concurrency, q.rate_limit, q.rate_interval,
		   q.group_rate_limit, q.durability, q.min_replicas
	FROM mq._queue q LEFT JOIN mq._queue d
		ON d.queue_id OPERATOR(pg_catalog.=) q.dead_letter_queue_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) q.owner;
COMMENT ON VIEW mq.queues IS 'Every queue with its options and owner.';

COMMENT ON TYPE mq.message IS 'A message as mq.read() and mq.pop() return it.';

REVOKE EXECUTE ON FUNCTION mq._queue_id(text),
	mq._queue_options(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int, text, int),
	mq._create_storage(mq._queue), mq._queue_indexes(mq._queue), mq._table_changed(),
	mq._group_has_older(oid, text, bigint), mq._announce(text), mq._make_room(text, bigint),
	mq._limits_available(), mq._limit_stats(int), mq._queue_forget(int, bool),
	mq._create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int, text, int),
	mq._alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int, text, int),
	mq._drop_queue(text, bool), mq._purge_queue(text), mq._redrive(text, text, bigint),
	mq._peek(text, int, bigint)
	FROM PUBLIC;
GRANT SELECT ON mq.queues TO PUBLIC;
