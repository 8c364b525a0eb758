/* mq 0.4.0 -> 0.5.0: stream consumer groups (README, "Streams") */
\echo Use "ALTER EXTENSION mq UPDATE TO '0.5.0'" to load this file. \quit

/*
 * Consumer groups of streams.  Members, holders and fetch positions live in
 * shared memory (group.c); committed positions are inserted rows, never
 * updated: the row with the greatest (epoch, position) of a (group,
 * partition) is its position, and mq.seek() inserts one of a new epoch.
 */
CREATE SEQUENCE mq._stream_group_id_seq AS int;
CREATE TABLE mq._stream_group (
	group_id		int PRIMARY KEY DEFAULT nextval('mq._stream_group_id_seq'),
	stream_id		int NOT NULL REFERENCES mq._stream (stream_id) ON DELETE CASCADE,
	group_name		text COLLATE "C" NOT NULL,
	start			text NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (stream_id, group_name)
);
ALTER SEQUENCE mq._stream_group_id_seq OWNED BY mq._stream_group.group_id;

/*
 * Two tables take the commits in turn, by the clock (minute by minute:
 * mq._commit_table()); the worker folds the one not in turn into the other
 * -- its newest row per (group, partition) copied, then TRUNCATE, under a
 * lock taken without waiting -- so they stay small without a DELETE, also
 * while a long transaction holds the xmin horizon.  mq._stream_commit, the
 * union of both, is what everything reads.
 */
CREATE TABLE mq._stream_commit_0 (
	group_id		int NOT NULL,
	partition		int NOT NULL,
	epoch			bigint NOT NULL,
	position		bigint NOT NULL,
	consumer		text,
	committed_at	timestamptz NOT NULL
);
CREATE INDEX ON mq._stream_commit_0 (group_id, partition, epoch, position);
CREATE TABLE mq._stream_commit_1 (LIKE mq._stream_commit_0 INCLUDING ALL);
CREATE VIEW mq._stream_commit AS
	SELECT * FROM mq._stream_commit_0 UNION ALL SELECT * FROM mq._stream_commit_1;
SELECT pg_catalog.pg_extension_config_dump('mq._stream_group', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_group_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_commit_0', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_commit_1', '');

/* the commit table in turn now: 0 or 1, by the minute (group.c agrees) */
CREATE FUNCTION mq._commit_table() RETURNS int
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
CREATE FUNCTION mq._compact_commits(t int DEFAULT NULL) RETURNS bool
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

CREATE FUNCTION mq.stream_end(stream text, partition int) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_stream_end' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION mq.partition_holder(stream text, consumer_group text, partition int,
									OUT consumer text, OUT held_until timestamptz)
AS 'MODULE_PATHNAME', 'mq_partition_holder' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION mq._group_reset(stream text, group_id int, partition int) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_group_reset' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION mq._group_forget(group_id int) RETURNS void
AS 'MODULE_PATHNAME', 'mq_group_forget' LANGUAGE C STRICT VOLATILE;

/*
 * The position of a partition that starts at to_end ('earliest' or
 * 'latest') or at the first record appended at or after at.
 */
CREATE FUNCTION mq._start_position(r mq._stream, partition int, to_end text, at timestamptz)
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
CREATE FUNCTION mq._start_time(start text) RETURNS timestamptz
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

CREATE FUNCTION mq._create_consumer_group(stream text, consumer_group text,
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
	FOR p IN 0 .. r.partitions - 1 LOOP
		INSERT INTO mq._stream_commit_0 (group_id, partition, epoch, position, consumer, committed_at)
		VALUES (gid, p, 0, mq._start_position(r, p, CASE WHEN at IS NULL THEN start END, at),
				NULL, now());
	END LOOP;
END;
$$;

CREATE FUNCTION mq._drop_consumer_group(stream text, consumer_group text)
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

CREATE FUNCTION mq._seek(stream text, consumer_group text, partition int DEFAULT NULL,
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


/*
 * Privileges on streams, in mq._privilege as for queues: send (append),
 * read (read_stream, poll, commit, create_consumer_group, seek) and manage
 * (alter, drop, drop_consumer_group, grants).  mq.grant and mq.revoke take
 * a queue's or a stream's name (they share one namespace).
 */
ALTER TABLE mq._privilege DROP CONSTRAINT _privilege_object_type_check;
ALTER TABLE mq._privilege ADD CONSTRAINT _privilege_object_type_check
	CHECK (object_type IN ('queue', 'exchange', 'stream'));

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
	valid text[] := CASE kind WHEN 'exchange' THEN ARRAY['publish', 'manage']
							  ELSE ARRAY['send', 'read', 'manage'] END;
BEGIN
	IF kind = 'stream' THEN
		PERFORM mq._check_privilege(kind, name, 'manage');
		SELECT s.stream_id INTO oid_ FROM mq._stream s WHERE s.stream_name = name;
	ELSE
		oid_ := CASE kind WHEN 'queue' THEN mq._queue_id(name) ELSE mq._exchange_id(name) END;
		PERFORM mq._check_privilege(kind, name, 'manage');
	END IF;
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
			CASE kind WHEN 'queue' THEN 'a queue' WHEN 'stream' THEN 'a stream' ELSE 'an exchange' END
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

/* 'stream' for a stream's name, else 'queue' */
CREATE FUNCTION mq._grant_kind(name text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM mq._stream s WHERE s.stream_name = name)
				THEN 'stream' ELSE 'queue' END
$$;
CREATE OR REPLACE FUNCTION mq._grant(queue text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant(mq._grant_kind(queue), queue, role, privilege, true) $$;
CREATE OR REPLACE FUNCTION mq._revoke(queue text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant(mq._grant_kind(queue), queue, role, privilege, false) $$;
REVOKE EXECUTE ON FUNCTION mq._grant_kind(text) FROM PUBLIC;

CREATE OR REPLACE VIEW mq.privileges AS
	SELECT p.object_type, coalesce(q.queue_name, e.exchange_name, s.stream_name) AS object_name,
		   CASE WHEN p.grantee = 0 THEN 'public' ELSE a.rolname::text END AS grantee,
		   p.privilege
	FROM mq._privilege p
		LEFT JOIN mq._queue q ON p.object_type OPERATOR(pg_catalog.=) 'queue'
			AND q.queue_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN mq._exchange e ON p.object_type OPERATOR(pg_catalog.=) 'exchange'
			AND e.exchange_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN mq._stream s ON p.object_type OPERATOR(pg_catalog.=) 'stream'
			AND s.stream_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) p.grantee;

/* the stream's row, for a caller that holds privilege on it; else an error */
DROP FUNCTION mq._stream_managed(text);
CREATE FUNCTION mq._stream_managed(stream text, privilege text DEFAULT 'manage')
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

/* streams' owners are roles mq names, as queues' are (roles.c) */
CREATE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._stream
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();
UPDATE mq._stream SET owner = owner WHERE false;

CREATE OR REPLACE FUNCTION mq._drop_owned(roles oid[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	name text;
BEGIN
	DELETE FROM mq._privilege p WHERE p.grantee = ANY (roles);
	FOR name IN SELECT s.stream_name FROM mq._stream s
				WHERE s.owner = ANY (roles) ORDER BY 1 LOOP
		PERFORM mq._drop_stream(name, true);
	END LOOP;
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

CREATE OR REPLACE FUNCTION mq._reassign_owned(roles oid[], new_owner oid) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE mq._queue q SET owner = new_owner WHERE q.owner = ANY (roles);
	UPDATE mq._exchange e SET owner = new_owner WHERE e.owner = ANY (roles);
	UPDATE mq._stream s SET owner = new_owner WHERE s.owner = ANY (roles);
$$;


/*
 * A stream can be the destination of a binding: mq.bind(exchange, name)
 * takes a queue's or a stream's name (one namespace).  A message routed to
 * a stream is appended with the publish's group_key as the record's key.
 */
ALTER TABLE mq._binding ADD COLUMN stream_id int REFERENCES mq._stream (stream_id) ON DELETE CASCADE;
ALTER TABLE mq._binding DROP CONSTRAINT _binding_check;
ALTER TABLE mq._binding ADD CONSTRAINT _binding_check
	CHECK (num_nonnulls(queue_id, exchange_id, stream_id) = 1);
DROP INDEX mq._binding_unique;
CREATE UNIQUE INDEX _binding_unique ON mq._binding
	(source_id, coalesce(queue_id, 0), coalesce(exchange_id, 0), coalesce(stream_id, 0),
	 binding_key, arguments);
CREATE INDEX _binding_stream ON mq._binding (stream_id);

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
		INSERT INTO mq._binding (source_id, queue_id, exchange_id, stream_id, binding_key, arguments)
			VALUES (src, qid, xid, sid, binding_key, args)
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

CREATE OR REPLACE VIEW mq.bindings AS
	SELECT s.exchange_name AS source,
		   coalesce(q.queue_name, d.exchange_name, t.stream_name) AS destination,
		   CASE WHEN b.queue_id IS NOT NULL THEN 'queue'
				WHEN b.stream_id IS NOT NULL THEN 'stream' ELSE 'exchange' END
			   AS destination_type,
		   b.binding_key, b.arguments
	FROM mq._binding b
		JOIN mq._exchange s ON s.exchange_id OPERATOR(pg_catalog.=) b.source_id
		LEFT JOIN mq._queue q ON q.queue_id OPERATOR(pg_catalog.=) b.queue_id
		LEFT JOIN mq._exchange d ON d.exchange_id OPERATOR(pg_catalog.=) b.exchange_id
		LEFT JOIN mq._stream t ON t.stream_id OPERATOR(pg_catalog.=) b.stream_id;

/* every change of streams or segments drops the backends' stream caches */
CREATE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._stream
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
CREATE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._stream_segment
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();

/* a dropped stream takes its consumer groups along */
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
	LOCK TABLE mq._queue IN SHARE ROW EXCLUSIVE MODE;
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
 * progress), so the segments kept stay contiguous.  No record row is ever updated or
 * deleted.  A retention of 0 keeps records for ever.  It also folds the
 * commit table not in turn into the other (mq._compact_commits).
 */
/*
 * Readable ends for standbys: the primary's worker writes a partition's
 * readable end here whenever it moves (every mq.notify_interval at most);
 * a standby reads up to the greatest one it has replayed.  Pruned by
 * mq._maintain_streams(); not dumped (a restored stream is read as
 * replayed until the worker writes again).
 */
CREATE TABLE mq._stream_end (
	stream_id		int NOT NULL,
	partition		int NOT NULL,
	end_position	bigint NOT NULL,
	published_at	timestamptz NOT NULL
);
CREATE INDEX ON mq._stream_end (stream_id, partition, end_position);

CREATE FUNCTION mq.stream_start(stream text, partition int) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_stream_start' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION mq._create_segment(r mq._stream, segment int) RETURNS void
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
			body		jsonb NOT NULL,
			appended_at	timestamptz NOT NULL,
			PRIMARY KEY (partition, position)
		)$ddl$, CASE WHEN r.unlogged THEN 'UNLOGGED ' ELSE '' END,
		's_' || r.stream_id || '_' || segment);
	INSERT INTO mq._stream_segment (stream_id, segment) VALUES (r.stream_id, segment);
END;
$$;

CREATE FUNCTION mq._segment_size(stream_id int, segment int) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(pg_total_relation_size(to_regclass(format('mq.%I', 's_' || stream_id || '_' || segment))), 0)
$$;

CREATE FUNCTION mq._maintain_streams() RETURNS int
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
REVOKE EXECUTE ON FUNCTION mq._create_segment(mq._stream, int), mq._segment_size(int, int),
	mq._maintain_streams(), mq._commit_table(), mq._compact_commits(int) FROM PUBLIC;

/* the Prometheus text gains the streams */
CREATE OR REPLACE FUNCTION mq._metrics_prometheus() RETURNS text
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	section text;
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
	/* streams the caller holds a privilege on: ends, and each group's lag */
	section := '';
	FOR m IN SELECT s.stream_name, p.partition, mq.stream_end(s.stream_name, p.partition) AS end_position
			 FROM mq._stream s, generate_series(0, s.partitions - 1) AS p(partition)
			 WHERE mq._has_privilege('stream', s.stream_name, 'any')
			 ORDER BY 1, 2 LOOP
		section := section || format(E'mq_stream_end_position{stream="%s",partition="%s"} %s\n',
									 m.stream_name, m.partition, m.end_position);
	END LOOP;
	IF section <> '' THEN
		out := out || E'# HELP mq_stream_end_position The position the next record of a partition will have.\n'
				   || E'# TYPE mq_stream_end_position gauge\n' || section;
	END IF;
	FOR metric IN SELECT * FROM (VALUES
		(1, 'mq_stream_group_committed_position', 'The committed position of a consumer group''s partition.'),
		(2, 'mq_stream_group_lag', 'Records of a partition after a consumer group''s committed position.')
	) AS v(ord, name, help) ORDER BY ord
	LOOP
		section := '';
		FOR m IN SELECT c.* FROM mq.consumer_groups c
				 WHERE mq._has_privilege('stream', c.stream, 'any')
				 ORDER BY c.stream, c.consumer_group, c.partition LOOP
			section := section || format(E'%s{stream="%s",group="%s",partition="%s"} %s\n', metric.name,
										 m.stream, m.consumer_group, m.partition,
										 CASE metric.ord WHEN 1 THEN m.committed_position ELSE m.lag END);
		END LOOP;
		IF section <> '' THEN
			out := out || format(E'# HELP %s %s\n# TYPE %s gauge\n', metric.name, metric.help,
								 metric.name) || section;
		END IF;
	END LOOP;
	RETURN out;
END;
$$;

/* change data capture into a stream (trigger.c) */
CREATE FUNCTION mq.append_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_append_trigger' LANGUAGE C;
COMMENT ON FUNCTION mq.append_trigger()
	IS 'Trigger: append each changed row to a stream, keyed by a column (arguments: stream [, key column]).';

CREATE FUNCTION mq.create_consumer_group(stream text, consumer_group text,
										 start text DEFAULT 'latest')
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.drop_consumer_group(stream text, consumer_group text)
RETURNS bool AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.seek(stream text, consumer_group text, partition int DEFAULT NULL,
						"position" bigint DEFAULT NULL, at timestamptz DEFAULT NULL,
						to_end text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.poll(stream text, consumer_group text, consumer text,
						max int DEFAULT 100, wait interval DEFAULT '0',
						session_timeout interval DEFAULT '30 seconds')
RETURNS SETOF mq.stream_record AS 'MODULE_PATHNAME', 'mq_poll' LANGUAGE C VOLATILE;
CREATE FUNCTION mq.commit(stream text, consumer_group text, consumer text,
						  partition int, "position" bigint)
RETURNS void AS 'MODULE_PATHNAME', 'mq_commit' LANGUAGE C VOLATILE;

CREATE VIEW mq.consumer_groups AS
	SELECT s.stream_name AS stream, g.group_name AS consumer_group, p.partition,
		   coalesce(c.position, 0) AS committed_position, e.end_position,
		   GREATEST(e.end_position OPERATOR(pg_catalog.-)
					GREATEST(coalesce(c.position, 0), b.start_position), 0) AS lag,
		   h.consumer, h.held_until, b.start_position,
		   GREATEST(b.start_position OPERATOR(pg_catalog.-) coalesce(c.position, 0), 0) AS skipped
	FROM mq._stream_group g
		JOIN mq._stream s ON s.stream_id OPERATOR(pg_catalog.=) g.stream_id
		CROSS JOIN LATERAL pg_catalog.generate_series(0, s.partitions OPERATOR(pg_catalog.-) 1) AS p(partition)
		LEFT JOIN LATERAL (
			SELECT c.position FROM mq._stream_commit c
			WHERE c.group_id OPERATOR(pg_catalog.=) g.group_id
			  AND c.partition OPERATOR(pg_catalog.=) p.partition
			ORDER BY c.epoch DESC, c.position DESC LIMIT 1) c ON true
		CROSS JOIN LATERAL mq.stream_end(s.stream_name, p.partition) AS e(end_position)
		CROSS JOIN LATERAL mq.stream_start(s.stream_name, p.partition) AS b(start_position)
		CROSS JOIN LATERAL mq.partition_holder(s.stream_name, g.group_name, p.partition) AS h;
GRANT SELECT ON mq.consumer_groups TO PUBLIC;

REVOKE EXECUTE ON FUNCTION mq._create_consumer_group(text, text, text),
	mq._drop_consumer_group(text, text), mq._seek(text, text, int, bigint, timestamptz, text),
	mq._group_reset(text, int, int), mq._group_forget(int),
	mq._start_position(mq._stream, int, text, timestamptz), mq._start_time(text),
	mq._stream_managed(text, text)
	FROM PUBLIC;

COMMENT ON FUNCTION mq.create_consumer_group(text, text, text)
	IS 'Create a consumer group of a stream, starting at ''earliest'', ''latest'' or a timestamp.';
COMMENT ON FUNCTION mq.drop_consumer_group(text, text)
	IS 'Drop a consumer group and its committed positions; false if there was none.';
COMMENT ON FUNCTION mq.seek(text, text, int, bigint, timestamptz, text)
	IS 'Move a group''s committed positions (one partition, or all) to a position, a time or an end.';
COMMENT ON FUNCTION mq.poll(text, text, text, int, interval, interval)
	IS 'Records for a consumer of a group from the partitions it holds, after those it was given.';
COMMENT ON FUNCTION mq.commit(text, text, text, int, bigint)
	IS 'Commit a group''s position of a partition (the next to read) in the caller''s transaction.';
COMMENT ON FUNCTION mq.stream_end(text, int)
	IS 'The end of a partition: the position its next committed record will have.';
COMMENT ON FUNCTION mq.stream_start(text, int)
	IS 'The first position of a partition that retention has kept (its end if none).';
COMMENT ON FUNCTION mq.partition_holder(text, text, int)
	IS 'The live consumer of a group that holds a partition, and until when.';
COMMENT ON VIEW mq.consumer_groups
	IS 'Every consumer group''s partitions: committed position, end, lag and live holder.';
