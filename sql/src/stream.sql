/*
 * stream.sql: streams (README, "Streams"): partitioned, retained logs --
 * creating, altering and dropping them, appends and replay (stream_append.c, stream_read.c),
 * retention by segments, and consumer groups with their committed
 * positions (stream_group.c).
 */

/* the options of a stream, checked; NULL where alter keeps */
CREATE OR REPLACE FUNCTION mq._stream_options(partitions int, retention interval, retention_bytes bigint)
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
	IF retention IS NOT NULL AND (retention < interval '0' OR mq._interval_too_long(retention)) THEN
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

/* the stream's row, for a caller that holds privilege on it; else an error */
CREATE OR REPLACE FUNCTION mq._stream_managed(stream text, privilege text DEFAULT 'manage')
RETURNS mq._stream
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
	PERFORM mq._check_privilege('stream', stream, privilege);
	RETURN r;
END;
$$;

/*
 * The bodies of the management functions (see queue.sql): mq_manage() in
 * front of each records the caller.  Streams share the namespace of queues
 * (a binding's destination names either).
 */
CREATE OR REPLACE FUNCTION mq._create_stream(stream text, partitions int DEFAULT 1,
								  retention interval DEFAULT '7 days',
								  retention_bytes bigint DEFAULT NULL,
								  unlogged bool DEFAULT false,
								  durability text DEFAULT 'local',
								  min_replicas int DEFAULT NULL)
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
	replicas int;
BEGIN
	PERFORM mq._check_name(stream, 'stream');
	IF partitions IS NULL OR retention IS NULL OR unlogged IS NULL THEN
		RAISE EXCEPTION 'partitions, retention and unlogged must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM mq._stream_options(partitions, retention, retention_bytes);
	replicas := mq._durability_options('stream', durability, min_replicas, unlogged);
	PERFORM mq._lock_name('queue', stream);
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
			(4, 'unlogged', old.unlogged IS DISTINCT FROM unlogged),
			(5, 'durability', old.durability IS DISTINCT FROM durability),
			(6, 'min_replicas', old.min_replicas IS DISTINCT FROM replicas)
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
	INSERT INTO mq._stream (stream_name, partitions, retention, retention_bytes, unlogged, owner,
							durability, min_replicas)
	VALUES (stream, partitions, retention, nullif(retention_bytes, 0), unlogged, mq._caller(),
			durability, replicas)
	RETURNING stream_id INTO sid;
	PERFORM mq._stream_made(sid);
	/* its first segment, as mq._maintain_streams() opens the next ones */
	PERFORM mq._create_segment(r, 1) FROM mq._stream r WHERE r.stream_id = sid;
END;
$$;

CREATE OR REPLACE FUNCTION mq._alter_stream(stream text, partitions int DEFAULT NULL,
								 retention interval DEFAULT NULL,
								 retention_bytes bigint DEFAULT NULL,
								 durability text DEFAULT NULL,
								 min_replicas int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.alter_stream()') IS NULL;
	r mq._stream;
	replicas int;
BEGIN
	PERFORM mq._lock_name('queue', stream);
	r := mq._stream_managed(stream);
	PERFORM mq._stream_options(partitions, retention, retention_bytes);
	/* NULL keeps; a stream made 'local' forgets its min_replicas */
	replicas := mq._durability_options('stream', coalesce(durability, r.durability),
		CASE WHEN min_replicas IS NOT NULL THEN min_replicas
			 WHEN coalesce(durability, r.durability) = 'replicated' THEN r.min_replicas END,
		r.unlogged);
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
							   ELSE nullif(_alter_stream.retention_bytes, 0) END,
		durability = coalesce(_alter_stream.durability, s.durability),
		min_replicas = replicas
	WHERE s.stream_id = r.stream_id;
END;
$$;

/* the stream's shared memory goes when the drop commits (stream_position.c) */
CREATE OR REPLACE FUNCTION mq._stream_forget(stream_id int) RETURNS void
AS 'MODULE_PATHNAME', 'mq_stream_forget' LANGUAGE C STRICT VOLATILE;

/* ... and when its creation rolls back */
CREATE OR REPLACE FUNCTION mq._stream_made(stream_id int) RETURNS void
AS 'MODULE_PATHNAME', 'mq_stream_made' LANGUAGE C STRICT VOLATILE;

/* a dropped stream takes its segments, consumer groups and grants along */
CREATE OR REPLACE FUNCTION mq._drop_stream(stream text, if_exists bool DEFAULT false)
RETURNS bool
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.drop_stream()') IS NULL;
	r mq._stream;
	seg int;
	gid int;
BEGIN
	PERFORM mq._check_name(stream, 'stream');
	PERFORM mq._lock_name('queue', stream);
	IF if_exists AND NOT EXISTS (SELECT 1 FROM mq._stream s WHERE s.stream_name = stream) THEN
		RAISE NOTICE 'stream "%" does not exist, skipping', stream;
		RETURN false;
	END IF;
	r := mq._stream_managed(stream);
	FOR gid IN SELECT g.group_id FROM mq._stream_group g WHERE g.stream_id = r.stream_id LOOP
		DELETE FROM mq._stream_commit_0 c WHERE c.group_id = gid;
		DELETE FROM mq._stream_commit_1 c WHERE c.group_id = gid;
		PERFORM mq._group_forget(gid);
	END LOOP;
	FOR seg IN SELECT g.segment FROM mq._stream_segment g WHERE g.stream_id = r.stream_id LOOP
		EXECUTE format('DROP TABLE IF EXISTS mq.%I', 's_' || r.stream_id || '_' || seg);
	END LOOP;
	DELETE FROM mq._privilege p WHERE p.object_type = 'stream' AND p.object_id = r.stream_id;
	DELETE FROM mq._stream s WHERE s.stream_id = r.stream_id;
	PERFORM mq._stream_forget(r.stream_id);
	RETURN true;
END;
$$;

/* The entry points (mq_manage() calls the body of the same name). */
CREATE OR REPLACE FUNCTION mq.create_stream(stream text, partitions int DEFAULT 1,
								 retention interval DEFAULT '7 days',
								 retention_bytes bigint DEFAULT NULL,
								 unlogged bool DEFAULT false,
								 durability text DEFAULT 'local',
								 min_replicas int DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_stream(text, int, interval, bigint, bool, text, int)
	IS 'Create a stream: a partitioned, retained log (a no-op if it exists with the same options).';

CREATE OR REPLACE FUNCTION mq.alter_stream(stream text, partitions int DEFAULT NULL,
								retention interval DEFAULT NULL,
								retention_bytes bigint DEFAULT NULL,
								durability text DEFAULT NULL,
								min_replicas int DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.alter_stream(text, int, interval, bigint, text, int)
	IS 'Change a stream''s options: partitions may only grow; NULL keeps, 0 clears retention_bytes.';

CREATE OR REPLACE FUNCTION mq.drop_stream(stream text, if_exists bool DEFAULT false)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.drop_stream(text, bool) IS 'Drop a stream and its records.';

/* Appends and replay: C (stream_append.c, stream_read.c). */
CREATE OR REPLACE FUNCTION mq.append(stream text, body jsonb DEFAULT NULL, key text DEFAULT NULL,
						  headers jsonb DEFAULT NULL, payload bytea DEFAULT NULL,
						  content_type text DEFAULT NULL, content_encoding text DEFAULT NULL,
						  correlation_id text DEFAULT NULL, reply_to text DEFAULT NULL)
RETURNS mq.stream_position AS 'MODULE_PATHNAME', 'mq_append' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.append(text, jsonb, text, jsonb, bytea, text, text, text, text)
	IS 'Append a record (a JSON body or a bytes payload with its properties); returns its partition and position.';

CREATE OR REPLACE FUNCTION mq.append_batch(stream text, bodies jsonb[] DEFAULT NULL,
								keys text[] DEFAULT NULL, headers jsonb[] DEFAULT NULL,
								payloads bytea[] DEFAULT NULL, content_types text[] DEFAULT NULL,
								content_encoding text DEFAULT NULL,
								correlation_ids text[] DEFAULT NULL, reply_to text DEFAULT NULL)
RETURNS SETOF mq.stream_position AS 'MODULE_PATHNAME', 'mq_append_batch' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.append_batch(text, jsonb[], text[], jsonb[], bytea[], text[], text, text[], text)
	IS 'Append records (each a JSON body or a bytes payload) in one call; returns their partitions and positions in order.';

CREATE OR REPLACE FUNCTION mq.read_stream(stream text, partition int, from_position bigint,
							   max int DEFAULT 100)
RETURNS SETOF mq.stream_record AS 'MODULE_PATHNAME', 'mq_read_stream' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.read_stream(text, int, bigint, int)
	IS 'Replay up to max records of a partition from a position, without a consumer group.';

CREATE OR REPLACE FUNCTION mq.stream_partition(key text, partitions int)
RETURNS int AS 'MODULE_PATHNAME', 'mq_stream_partition' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION mq.stream_partition(text, int)
	IS 'The partition of a key: FNV-1a (32 bits) of its bytes modulo the partitions.';

CREATE OR REPLACE FUNCTION mq.stream_end(stream text, partition int) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_stream_end' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mq.stream_end(text, int)
	IS 'The end of a partition: the position its next committed record will have.';

CREATE OR REPLACE FUNCTION mq.stream_start(stream text, partition int) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_stream_start' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mq.stream_start(text, int)
	IS 'The first position of a partition that retention has kept (its end if none).';

/*
 * Retention by segments.  A stream's records are in segment tables
 * mq.s_<stream>_<segment>; appends go to the newest.  The worker, after
 * mq.maintain(), runs mq._maintain_streams(): it opens a new segment when
 * the newest holds records and was opened more than retention / 8 ago (or
 * is bigger than an eighth of retention_bytes times the partitions), and
 * drops the oldest segments whose successor was opened more than retention
 * ago (or while the stream's segments are bigger than retention_bytes times
 * the partitions), oldest first, never the newest, each under a lock taken
 * without waiting (a segment that a reader holds stays until the next run;
 * once twice overdue the lock waits up to 100 ms for the readers in
 * progress), so the segments kept stay contiguous.  No record row is ever
 * updated or deleted.  A retention of 0 keeps records for ever.  It also
 * prunes mq._stream_end and folds the commit table not in turn into the
 * other (mq._compact_commits).
 */
CREATE OR REPLACE FUNCTION mq._create_segment(r mq._stream, segment int) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE format($ddl$
		CREATE %sTABLE mq.%I (
			partition	int NOT NULL,
			position	bigint NOT NULL,
			key			text,
			headers		jsonb,
			body		jsonb,
			appended_at	timestamptz NOT NULL,
			payload		bytea,
			content_type text,
			content_encoding text,
			correlation_id text,
			reply_to	text,
			sent_by		text,
			PRIMARY KEY (partition, position)
		)$ddl$, CASE WHEN r.unlogged THEN 'UNLOGGED ' ELSE '' END,
		's_' || r.stream_id || '_' || segment);
	INSERT INTO mq._stream_segment (stream_id, segment) VALUES (r.stream_id, segment);
END;
$$;

CREATE OR REPLACE FUNCTION mq._segment_size(stream_id int, segment int) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(pg_total_relation_size(to_regclass(format('mq.%I', 's_' || stream_id || '_' || segment))), 0)
$$;

CREATE OR REPLACE FUNCTION mq._maintain_streams() RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r mq._stream;
	newest int;
	newest_opened timestamptz;
	has_rows bool;
	seg record;
	total bigint;
	size bigint;
	dropped int := 0;
	bytes_limit bigint;
BEGIN
	IF pg_is_in_recovery() THEN
		RETURN 0;
	END IF;
	FOR r IN SELECT * FROM mq._stream s ORDER BY s.stream_id LOOP
		SELECT g.segment, g.opened_at INTO newest, newest_opened
		FROM mq._stream_segment g WHERE g.stream_id = r.stream_id
		ORDER BY g.segment DESC LIMIT 1;
		CONTINUE WHEN newest IS NULL;
		bytes_limit := r.retention_bytes * r.partitions;
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM mq.%I)', 's_' || r.stream_id || '_' || newest)
			INTO has_rows;
		IF has_rows AND ((r.retention > interval '0' AND newest_opened < now() - r.retention / 8)
						 OR mq._segment_size(r.stream_id, newest) > bytes_limit / 8) THEN
			PERFORM mq._create_segment(r, newest + 1);
			newest := newest + 1;
		END IF;
		SELECT sum(mq._segment_size(r.stream_id, g.segment)) INTO total
		FROM mq._stream_segment g WHERE g.stream_id = r.stream_id;
		FOR seg IN SELECT g.segment,
						  (SELECT min(n.opened_at) FROM mq._stream_segment n
						   WHERE n.stream_id = g.stream_id AND n.segment > g.segment) AS next_opened
				   FROM mq._stream_segment g
				   WHERE g.stream_id = r.stream_id AND g.segment < newest
				   ORDER BY g.segment LOOP
			EXIT WHEN NOT coalesce((r.retention > interval '0' AND seg.next_opened < now() - r.retention)
								   OR total > bytes_limit, false);
			BEGIN
				EXECUTE format('LOCK TABLE mq.%I IN ACCESS EXCLUSIVE MODE NOWAIT',
							   's_' || r.stream_id || '_' || seg.segment);
			EXCEPTION WHEN lock_not_available THEN
				/*
				 * A reader holds it: next time.  But polls lock every
				 * segment they read, so under a steady load some poll
				 * nearly always holds it; once the segment is twice
				 * overdue, wait for the readers in progress, at most
				 * 100 ms (new readers queue behind for as long).
				 */
				EXIT WHEN NOT coalesce((r.retention > interval '0'
										AND seg.next_opened < now() - 2 * r.retention)
									   OR total > 2 * bytes_limit, false);
				BEGIN
					PERFORM set_config('lock_timeout', '100ms', true);
					EXECUTE format('LOCK TABLE mq.%I IN ACCESS EXCLUSIVE MODE',
								   's_' || r.stream_id || '_' || seg.segment);
				EXCEPTION WHEN lock_not_available THEN
					EXIT;
				END;
			END;
			size := mq._segment_size(r.stream_id, seg.segment);
			EXECUTE format('DROP TABLE mq.%I', 's_' || r.stream_id || '_' || seg.segment);
			DELETE FROM mq._stream_segment g
			WHERE g.stream_id = r.stream_id AND g.segment = seg.segment;
			total := total - size;
			dropped := dropped + 1;
		END LOOP;
	END LOOP;
	/* readable ends that newer ones supersede, and those of dropped streams */
	DELETE FROM mq._stream_end e
	WHERE EXISTS (SELECT 1 FROM mq._stream_end n
				  WHERE n.stream_id = e.stream_id AND n.partition = e.partition
					AND n.end_position > e.end_position)
	   OR NOT EXISTS (SELECT 1 FROM mq._stream s WHERE s.stream_id = e.stream_id);
	/* the commit table not in turn folds into the other */
	PERFORM mq._compact_commits(1 - mq._commit_table());
	RETURN dropped;
END;
$$;

/* every stream with its options and owner */
CREATE OR REPLACE VIEW mq.streams AS
	SELECT s.stream_name AS stream, s.partitions, s.retention, s.retention_bytes,
		   s.unlogged, s.created_at, a.rolname AS owner, s.durability, s.min_replicas
	FROM mq._stream s
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) s.owner;
COMMENT ON VIEW mq.streams IS 'Every stream with its options and owner.';

/*
 * Consumer groups.  Committed positions are rows of two tables that take
 * the commits in turn by the minute (catalog.sql); mq._stream_commit is
 * their union, which everything reads.
 */

/* the commit table in turn now: 0 or 1, by the minute (stream_commit.c agrees) */
CREATE OR REPLACE FUNCTION mq._commit_table() RETURNS int
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT (floor(extract(epoch FROM clock_timestamp() - timestamptz '2000-01-01 00:00:00+00') / 60)::bigint % 2)::int
$$;

/*
 * Fold commit table t (0 or 1; NULL: both, one after the other) into the
 * other: its newest row per (group, partition) of groups that still exist
 * is copied, then it is truncated -- under ACCESS EXCLUSIVE taken without
 * waiting, so no commit can still be writing into it; returns whether it
 * could.  A commit that lands in it after the fold is folded next time.
 */
CREATE OR REPLACE FUNCTION mq._compact_commits(t int DEFAULT NULL) RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src int;
	ok bool := true;
BEGIN
	FOREACH src IN ARRAY CASE WHEN t IS NULL THEN ARRAY[0, 1] ELSE ARRAY[t] END LOOP
		BEGIN
			EXECUTE format('LOCK TABLE mq.%I IN ACCESS EXCLUSIVE MODE NOWAIT', '_stream_commit_' || src);
		EXCEPTION WHEN lock_not_available THEN
			ok := false;
			CONTINUE;
		END;
		EXECUTE format($q$
			INSERT INTO mq.%I
			SELECT DISTINCT ON (c.group_id, c.partition) c.*
			FROM mq.%I c
			WHERE EXISTS (SELECT 1 FROM mq._stream_group g WHERE g.group_id = c.group_id)
			ORDER BY c.group_id, c.partition, c.epoch DESC, c.position DESC$q$,
			'_stream_commit_' || (1 - src), '_stream_commit_' || src);
		EXECUTE format('TRUNCATE mq.%I', '_stream_commit_' || src);
	END LOOP;
	RETURN ok;
END;
$$;

CREATE OR REPLACE VIEW mq._stream_commit AS
	SELECT * FROM mq._stream_commit_0 UNION ALL SELECT * FROM mq._stream_commit_1;

/* Members, holders and fetch positions live in shared memory (stream_group.c). */
CREATE OR REPLACE FUNCTION mq.partition_holder(stream text, consumer_group text, partition int,
									OUT consumer text, OUT held_until timestamptz)
AS 'MODULE_PATHNAME', 'mq_partition_holder' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mq.partition_holder(text, text, int)
	IS 'The live consumer of a group that holds a partition, and until when.';

CREATE OR REPLACE FUNCTION mq._group_reset(stream text, group_id int, partition int) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_group_reset' LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE FUNCTION mq._group_forget(group_id int) RETURNS void
AS 'MODULE_PATHNAME', 'mq_group_forget' LANGUAGE C STRICT VOLATILE;

/* a group whose creation rolls back leaves shared memory (stream_group.c) */
CREATE OR REPLACE FUNCTION mq._group_made(group_id int) RETURNS void
AS 'MODULE_PATHNAME', 'mq_group_made' LANGUAGE C STRICT VOLATILE;

/*
 * The position of a partition that starts at to_end ('earliest' or
 * 'latest') or at the first record appended at or after at.
 */
CREATE OR REPLACE FUNCTION mq._start_position(r mq._stream, partition int, to_end text, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	stop bigint;
	found bigint;
	seg int;
BEGIN
	IF to_end = 'earliest' THEN
		RETURN 0;
	END IF;
	stop := mq.stream_end(r.stream_name, partition);
	IF to_end = 'latest' THEN
		RETURN stop;
	END IF;
	FOR seg IN SELECT g.segment FROM mq._stream_segment g
			   WHERE g.stream_id = r.stream_id ORDER BY g.segment LOOP
		EXECUTE format('SELECT min(position) FROM mq.%I WHERE partition = $1 AND appended_at >= $2',
					   's_' || r.stream_id || '_' || seg)
			INTO found USING partition, at;
		IF found IS NOT NULL THEN
			RETURN least(found, stop);
		END IF;
	END LOOP;
	RETURN stop;
END;
$$;

/* 'earliest', 'latest' or a timestamp: the timestamp, NULL for the others */
CREATE OR REPLACE FUNCTION mq._start_time(start text) RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF start IS NULL THEN
		RAISE EXCEPTION 'start must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Give ''earliest'', ''latest'' or a timestamp.';
	END IF;
	IF start IN ('earliest', 'latest') THEN
		RETURN NULL;
	END IF;
	BEGIN
		RETURN start::timestamptz;
	EXCEPTION WHEN data_exception THEN
		RAISE EXCEPTION 'start must be ''earliest'', ''latest'' or a timestamp'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('"%s" is none of them.', start),
				  HINT = 'Give a timestamp such as ''2026-12-01 12:00:00+00''.';
	END;
END;
$$;

/* The bodies of the management functions of groups. */
CREATE OR REPLACE FUNCTION mq._create_consumer_group(stream text, consumer_group text,
										  start text DEFAULT 'latest')
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.create_consumer_group()') IS NULL;
	r mq._stream;
	gid int;
	old_start text;
	at timestamptz;
	p int;
BEGIN
	r := mq._stream_managed(stream, 'read');
	PERFORM mq._check_name(consumer_group, 'consumer group');
	at := mq._start_time(start);
	INSERT INTO mq._stream_group AS g (stream_id, group_name, start)
	VALUES (r.stream_id, consumer_group, start)
	ON CONFLICT (stream_id, group_name) DO NOTHING
	RETURNING g.group_id INTO gid;
	IF gid IS NULL THEN
		SELECT g.start INTO old_start FROM mq._stream_group g
		WHERE g.stream_id = r.stream_id AND g.group_name = consumer_group;
		IF old_start IS DISTINCT FROM start THEN
			RAISE EXCEPTION 'consumer group "%" of stream "%" already exists with start "%"',
							consumer_group, stream, old_start
				USING ERRCODE = 'duplicate_object',
					  HINT = 'Use mq.seek() to move the positions of an existing group.';
		END IF;
		RETURN;
	END IF;
	PERFORM mq._group_made(gid);
	FOR p IN 0 .. r.partitions - 1 LOOP
		INSERT INTO mq._stream_commit_0 (group_id, partition, epoch, position, consumer, committed_at)
		VALUES (gid, p, 0, mq._start_position(r, p, CASE WHEN at IS NULL THEN start END, at),
				NULL, now());
	END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION mq._drop_consumer_group(stream text, consumer_group text)
RETURNS bool
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.drop_consumer_group()') IS NULL;
	r mq._stream;
	gid int;
BEGIN
	r := mq._stream_managed(stream);
	PERFORM mq._check_name(consumer_group, 'consumer group');
	DELETE FROM mq._stream_group g
	WHERE g.stream_id = r.stream_id AND g.group_name = consumer_group
	RETURNING g.group_id INTO gid;
	IF gid IS NULL THEN
		RETURN false;
	END IF;
	DELETE FROM mq._stream_commit_0 c WHERE c.group_id = gid;
	DELETE FROM mq._stream_commit_1 c WHERE c.group_id = gid;
	PERFORM mq._group_forget(gid);
	RETURN true;
END;
$$;

CREATE OR REPLACE FUNCTION mq._seek(stream text, consumer_group text, partition int DEFAULT NULL,
						 "position" bigint DEFAULT NULL, at timestamptz DEFAULT NULL,
						 to_end text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary('mq.seek()') IS NULL;
	r mq._stream;
	gid int;
	p int;
	e bigint;
	target bigint;
	stop bigint;
BEGIN
	r := mq._stream_managed(stream, 'read');
	PERFORM mq._check_name(consumer_group, 'consumer group');
	SELECT g.group_id INTO gid FROM mq._stream_group g
	WHERE g.stream_id = r.stream_id AND g.group_name = consumer_group;
	IF gid IS NULL THEN
		RAISE EXCEPTION 'consumer group "%" of stream "%" does not exist', consumer_group, stream
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with mq.create_consumer_group().';
	END IF;
	IF num_nonnulls("position", at, to_end) <> 1 THEN
		RAISE EXCEPTION 'mq.seek() needs exactly one of position, at and to_end'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example mq.seek(''s'', ''g'', to_end => ''earliest'').';
	END IF;
	IF to_end NOT IN ('earliest', 'latest') THEN
		RAISE EXCEPTION 'to_end must be ''earliest'' or ''latest'''
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('"%s" is neither.', to_end),
				  HINT = 'Use at => a timestamp to seek to a time.';
	END IF;
	IF "position" < 0 THEN
		RAISE EXCEPTION 'position must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Positions start at 0.';
	END IF;
	IF partition < 0 OR partition >= r.partitions THEN
		RAISE EXCEPTION 'stream "%" has no partition %', stream, partition
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Partitions are numbered from 0 to %s; NULL seeks them all.',
								r.partitions - 1);
	END IF;
	FOR p IN coalesce(partition, 0) .. coalesce(partition, r.partitions - 1) LOOP
		/* fence the partition first: a holder starts again after this commits */
		e := mq._group_reset(stream, gid, p);
		IF "position" IS NOT NULL THEN
			stop := mq.stream_end(stream, p);
			IF "position" > stop THEN
				RAISE EXCEPTION 'position % is past the end of partition % of stream "%"',
								"position", p, stream
					USING ERRCODE = 'invalid_parameter_value',
						  DETAIL = format('The partition ends at %s.', stop),
						  HINT = 'Use to_end => ''latest'' to skip to the end.';
			END IF;
			target := "position";
		ELSE
			target := mq._start_position(r, p, to_end, at);
		END IF;
		INSERT INTO mq._stream_commit_0 (group_id, partition, epoch, "position", consumer, committed_at)
		VALUES (gid, p, e, target, NULL, now());
	END LOOP;
END;
$$;

/* The entry points; poll and commit are C (stream_poll.c, stream_commit.c). */
CREATE OR REPLACE FUNCTION mq.create_consumer_group(stream text, consumer_group text,
										 start text DEFAULT 'latest')
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_consumer_group(text, text, text)
	IS 'Create a consumer group of a stream, starting at ''earliest'', ''latest'' or a timestamp.';

CREATE OR REPLACE FUNCTION mq.drop_consumer_group(stream text, consumer_group text)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.drop_consumer_group(text, text)
	IS 'Drop a consumer group and its committed positions; false if there was none.';

CREATE OR REPLACE FUNCTION mq.seek(stream text, consumer_group text, partition int DEFAULT NULL,
						"position" bigint DEFAULT NULL, at timestamptz DEFAULT NULL,
						to_end text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.seek(text, text, int, bigint, timestamptz, text)
	IS 'Move a group''s committed positions (one partition, or all) to a position, a time or an end.';

CREATE OR REPLACE FUNCTION mq.poll(stream text, consumer_group text, consumer text,
						max int DEFAULT 100, wait interval DEFAULT '0',
						session_timeout interval DEFAULT '30 seconds')
RETURNS SETOF mq.stream_record AS 'MODULE_PATHNAME', 'mq_poll' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.poll(text, text, text, int, interval, interval)
	IS 'Records for a consumer of a group from the partitions it holds, after those it was given.';

CREATE OR REPLACE FUNCTION mq.commit(stream text, consumer_group text, consumer text,
						  partition int, "position" bigint)
RETURNS void AS 'MODULE_PATHNAME', 'mq_commit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.commit(text, text, text, int, bigint)
	IS 'Commit a group''s position of a partition (the next to read) in the caller''s transaction.';

-- The stream and group are paired first, behind MATERIALIZED, so that the
-- planner cannot call the functions below with one stream's name and another
-- stream's group (a join filter placed above them): partition_holder() raises
-- for a group that is not the stream's.
CREATE OR REPLACE VIEW mq.consumer_groups AS
	WITH g AS MATERIALIZED (
		SELECT g.group_id, g.group_name, s.stream_name, s.partitions
		FROM mq._stream_group g
			JOIN mq._stream s ON s.stream_id OPERATOR(pg_catalog.=) g.stream_id)
	SELECT g.stream_name AS stream, g.group_name AS consumer_group, p.partition,
		   coalesce(c.position, 0) AS committed_position, e.end_position,
		   GREATEST(e.end_position OPERATOR(pg_catalog.-)
					GREATEST(coalesce(c.position, 0), b.start_position), 0) AS lag,
		   h.consumer, h.held_until, b.start_position,
		   GREATEST(b.start_position OPERATOR(pg_catalog.-) coalesce(c.position, 0), 0) AS skipped
	FROM g
		CROSS JOIN LATERAL pg_catalog.generate_series(0, g.partitions OPERATOR(pg_catalog.-) 1) AS p(partition)
		LEFT JOIN LATERAL (
			SELECT c.position FROM mq._stream_commit c
			WHERE c.group_id OPERATOR(pg_catalog.=) g.group_id
			  AND c.partition OPERATOR(pg_catalog.=) p.partition
			ORDER BY c.epoch DESC, c.position DESC LIMIT 1) c ON true
		CROSS JOIN LATERAL mq.stream_end(g.stream_name, p.partition) AS e(end_position)
		CROSS JOIN LATERAL mq.stream_start(g.stream_name, p.partition) AS b(start_position)
		CROSS JOIN LATERAL mq.partition_holder(g.stream_name, g.group_name, p.partition) AS h;
COMMENT ON VIEW mq.consumer_groups
	IS 'Every consumer group''s partitions: committed position, end, lag and live holder.';

COMMENT ON TYPE mq.stream_position IS 'Where mq.append() put a record.';
COMMENT ON TYPE mq.stream_record IS 'A record as mq.read_stream() returns it.';

REVOKE EXECUTE ON FUNCTION mq._stream_options(int, interval, bigint),
	mq._stream_managed(text, text), mq._create_stream(text, int, interval, bigint, bool, text, int),
	mq._alter_stream(text, int, interval, bigint, text, int), mq._stream_forget(int), mq._stream_made(int),
	mq._drop_stream(text, bool), mq._create_segment(mq._stream, int),
	mq._segment_size(int, int), mq._maintain_streams(), mq._commit_table(),
	mq._compact_commits(int), mq._group_reset(text, int, int), mq._group_forget(int),
	mq._group_made(int),
	mq._start_position(mq._stream, int, text, timestamptz), mq._start_time(text),
	mq._create_consumer_group(text, text, text), mq._drop_consumer_group(text, text),
	mq._seek(text, text, int, bigint, timestamptz, text)
	FROM PUBLIC;
GRANT SELECT ON mq.streams, mq.consumer_groups TO PUBLIC;
