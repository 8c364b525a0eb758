/* sql/mq_cluster--0.8.0.sql: mq_cluster 0.8.0, the mq API in a proxy database (doc/cluster.md) */

\echo Use "CREATE EXTENSION mq_cluster" to load this file. \quit

/*
 * A proxy database runs no mq of its own: every function of the mq API
 * here is a PL/Proxy function (or a small PL/pgSQL one around some) that
 * runs the same mq function on the node that holds the object, over the
 * cluster defined by PL/Proxy's SQL/MED convention:
 *
 *	 CREATE SERVER mq_cluster FOREIGN DATA WRAPPER plproxy
 *		 OPTIONS (p0 'host=a dbname=app', p1 'host=b dbname=app');
 *	 CREATE USER MAPPING FOR PUBLIC SERVER mq_cluster;
 *
 * The number of nodes N is the number of pN options, a power of 2.
 *
 * - A queue lives on node mq.cluster_hash(name) & (N - 1), the hash being
 *	 the first 32 bits of md5(name) as a signed integer: stable across
 *	 PostgreSQL versions and computable anywhere.
 * - An exchange and its exchange-to-exchange bindings live on every node;
 *	 a queue's binding lives on the queue's node.  A publish runs on every
 *	 node, and each node delivers to the queues bound there: each bound
 *	 queue gets the message once.
 * - A stream of P partitions (a multiple of N) is a stream of L = P / N
 *	 partitions on every node: global partition g is local partition
 *	 g % L of node g / L.  A node's mq.append puts a key in local partition
 *	 fnv(key) % L, and the proxy sends it to node (fnv(key) % P) / L, so the
 *	 key lands in global partition fnv(key) % P = mq.stream_partition(key, P).
 *
 * No transaction spans nodes: every proxy call commits on its node by
 * itself, whatever the proxy's transaction does afterwards.
 */

DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'mq') THEN
		RAISE EXCEPTION 'mq_cluster cannot be installed next to mq'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'This database has the mq extension: mq_cluster defines the same mq.* functions for a proxy database.',
				  HINT = 'Create mq_cluster in a database of its own (the proxy), and mq on every node.';
	END IF;
END
$$;

/* ---- the cluster ---- */

/* The number of nodes: the pN options of the server mq_cluster. */
CREATE FUNCTION mq.cluster_size() RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n int;
BEGIN
	SELECT count(*) INTO n
	FROM pg_foreign_server s
		JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
		CROSS JOIN LATERAL pg_options_to_table(s.srvoptions) o
	WHERE s.srvname = 'mq_cluster' AND w.fdwname = 'plproxy'
	  AND o.option_name ~ '^p[0-9]+$';
	IF n = 0 THEN
		RAISE EXCEPTION 'no mq cluster is defined in this database'
			USING ERRCODE = 'undefined_object',
				  HINT = 'CREATE SERVER mq_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (p0 ''<connection string>'', p1 ''...''); and CREATE USER MAPPING FOR PUBLIC SERVER mq_cluster; (doc/cluster.md).';
	END IF;
	RETURN n;
END
$$;
COMMENT ON FUNCTION mq.cluster_size() IS 'The number of nodes of the mq cluster (the pN options of server mq_cluster).';

/* The hash of a queue's name: the first 32 bits of its md5, as an int. */
CREATE FUNCTION mq.cluster_hash(name text) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ('x' || substr(md5(name), 1, 8))::bit(32)::int $$;
COMMENT ON FUNCTION mq.cluster_hash(text) IS 'The hash that places a queue: the first 32 bits of md5(name), signed.';

/* the hash PL/Proxy routes a name's calls by: NULL is an error, not a node */
CREATE FUNCTION mq._cluster_route(name text) RETURNS int
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'the name of a queue or stream must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass the name: it decides the node the call runs on.';
	END IF;
	RETURN ('x' || substr(md5(name), 1, 8))::bit(32)::int;
END
$$;

/* The node of a queue (or of a stream's look-ups): its hash & (N - 1). */
CREATE FUNCTION mq.cluster_node(name text) RETURNS int
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq.cluster_hash(name) & (mq.cluster_size() - 1) $$;
COMMENT ON FUNCTION mq.cluster_node(text) IS 'The node (0 to N - 1) a queue of this name lives on.';

/* every node, for SPLIT: each node's call gets the array of its own number */
CREATE FUNCTION mq._cluster_all() RETURNS int[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(n ORDER BY n) FROM generate_series(0, mq.cluster_size() - 1) n $$;

/* a call that does nothing on a node: can the proxy reach it? */
CREATE FUNCTION mq._cluster_ping(p_node int) RETURNS int AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT 1;
$$ LANGUAGE plproxy;

/* node k's connection string (option pk of server mq_cluster), without a password */
CREATE FUNCTION mq._cluster_connstr(node int) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT regexp_replace(regexp_replace(o.option_value,
			'(password\s*=\s*)(''([^''\\]|\\.)*''|\S+)', '\1***', 'gi'),
		'(://[^:@/?]*):[^@/?]*@', '\1:***@', 'g')
	FROM pg_foreign_server s CROSS JOIN LATERAL pg_options_to_table(s.srvoptions) o
	WHERE s.srvname = 'mq_cluster' AND o.option_name = 'p' || node
$$;

/*
 * A call through PL/Proxy failed (internal_error, or a node's 57P01-57P03,
 * err is "SQLSTATE: message"): when a connection is the
 * cause, raise an error that names the node, its option and connection
 * string and says what is known of the call; else return, and the caller
 * raises the error as it came.  The node is the queue's when the call was
 * a queue's; otherwise the first node that cannot be reached now (each is
 * asked by a call that does nothing).  on_all: the call runs on every node
 * (the others may have done their part).
 */
CREATE FUNCTION mq._cluster_failed(queue text, what text, err text, on_all bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- err is SQLSTATE: message; a node that is starting or stopping refuses with 57P03
	connect bool := err ~ 'PQconnect(Start|Poll)' OR err ~ '^57P03';
	node int;
	n int;
	done text;
BEGIN
	-- a connection that broke, or a node's session ended by its administrator or a crash (57P01, 57P02)
	IF NOT connect AND err !~ '^57P0[12]'
	   AND err !~ '(server closed the connection|lost connection|connection to server|could not send|PQconsumeInput|PQsend|PQgetResult)' THEN
		RETURN;
	END IF;
	IF queue IS NOT NULL THEN
		node := mq.cluster_node(queue);
	ELSE
		FOR n IN 0 .. mq.cluster_size() - 1 LOOP
			BEGIN
				PERFORM mq._cluster_ping(n);
			EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
				node := n;
				EXIT;
			END;
		END LOOP;
	END IF;
	IF node IS NULL THEN
		-- every node answers now: a connection broke and came back
		RAISE EXCEPTION 'a node of the mq cluster failed during %', what
			USING ERRCODE = CASE WHEN connect THEN 'sqlclient_unable_to_establish_sqlconnection'
								 ELSE 'connection_failure' END,
				  DETAIL = 'Every node answers now; the call may or may not have been done on the node that failed. ' || err,
				  HINT = 'Retry the call.';
	END IF;
	IF connect THEN
		done := CASE WHEN queue IS NOT NULL
					 THEN format('%s on queue "%s", which lives on node %s (option p%s of server mq_cluster), could not connect: nothing was done.',
								 what, queue, node, node)
					 WHEN on_all
					 THEN format('%s runs on every node and could not connect to node %s (option p%s of server mq_cluster): nothing was done there, the other nodes may have done their part.',
								 what, node, node)
					 ELSE format('%s could not connect to node %s (option p%s of server mq_cluster): nothing was done.',
								 what, node, node) END;
		RAISE EXCEPTION 'node % of the mq cluster is unreachable (p%: %)', node, node, mq._cluster_connstr(node)
			USING ERRCODE = 'sqlclient_unable_to_establish_sqlconnection',
				  DETAIL = done || ' ' || err,
				  HINT = CASE WHEN on_all
							  THEN 'Repeat the call once the node is back (or its standby promoted): a declaration is a no-op where it was made, a publish with a dedup_key is not delivered twice to a queue.'
							  ELSE 'Queues and partitions on the other nodes work on. Retry when the node is back (or its standby promoted).' END;
	END IF;
	RAISE EXCEPTION 'node % of the mq cluster failed during % (p%: %)', node, what, node, mq._cluster_connstr(node)
		USING ERRCODE = 'connection_failure',
			  DETAIL = CASE WHEN queue IS NOT NULL THEN format('The call on queue "%s" may or may not have committed on the node. ', queue)
							ELSE 'The call may or may not have committed on the node. ' END || err,
			  HINT = 'Retry: a send with a dedup_key is not repeated; an ack or nack of a message already acked returns false; a declaration repeated is a no-op.';
END
$$;

/* what the proxy cannot do: one error for all */
CREATE FUNCTION mq._cluster_unsupported(what text, hint text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION '% does not work through the mq cluster proxy', what
		USING ERRCODE = 'feature_not_supported', HINT = hint;
END
$$;

/* ---- types, as on a node (queue_metrics has the node at the end) ---- */

CREATE TYPE mq.message AS (
	msg_id		bigint,
	read_ct		int,
	enqueued_at	timestamptz,
	vt			timestamptz,
	priority	int,
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
);

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
	scrape_time		timestamptz,
	groups_visible	bigint,
	groups_at_limit	bigint,
	rate_limited_reads bigint,
	group_rate_limited bigint,
	node			int
);

CREATE TYPE mq.stream_position AS (partition int, position bigint);

CREATE TYPE mq.stream_record AS (
	partition	int,
	position	bigint,
	key			text,
	headers		jsonb,
	body		jsonb,
	appended_at	timestamptz,
	payload		bytea,
	content_type text,
	content_encoding text,
	correlation_id text,
	reply_to	text,
	sent_by		text
);

/* ---- queues: on the node of their name ---- */

CREATE FUNCTION mq._cluster_create_queue(
	queue text, visibility_timeout interval, max_receives int, dead_letter_queue text,
	message_ttl interval, max_length bigint, overflow text, fifo bool,
	dedup_window interval, archive bool, retention interval, unlogged bool, notify bool,
	fair bool, group_concurrency int, rate_limit int, rate_interval interval,
	group_rate_limit int, durability text, min_replicas int)
RETURNS void AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.create_queue;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq._cluster_alter_queue(
	queue text, visibility_timeout interval, max_receives int, dead_letter_queue text,
	message_ttl interval, max_length bigint, overflow text, fifo bool,
	dedup_window interval, archive bool, retention interval, unlogged bool, notify bool,
	fair bool, group_concurrency int, rate_limit int, rate_interval interval,
	group_rate_limit int, durability text, min_replicas int)
RETURNS void AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.alter_queue;
$$ LANGUAGE plproxy;

/* a queue and its dead-letter queue (or redrive target) share a node */
CREATE FUNCTION mq._cluster_same_node(queue text, other text, what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF other IS NOT NULL AND queue IS NOT NULL
	   AND mq.cluster_node(queue) <> mq.cluster_node(other) THEN
		RAISE EXCEPTION '% "%" lives on node %, not on node % with queue "%"',
			what, other, mq.cluster_node(other), mq.cluster_node(queue), queue
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'Through the mq cluster proxy a queue and its ' || what || ' must live on the same node.',
				  HINT = 'Pick a name on the same node: mq.cluster_node(name) gives the node of a name.';
	END IF;
END
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
	group_rate_limit int DEFAULT NULL,
	durability text DEFAULT 'local',
	min_replicas int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_same_node(queue, dead_letter_queue, 'dead-letter queue');
	PERFORM mq._cluster_create_queue(queue, visibility_timeout, max_receives,
		dead_letter_queue, message_ttl, max_length, overflow, fifo, dedup_window, archive,
		retention, unlogged, notify, fair, group_concurrency, rate_limit, rate_interval,
		group_rate_limit, durability, min_replicas);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.create_queue()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
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
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- '' removes the dead-letter queue on a node
	IF dead_letter_queue <> '' THEN
		PERFORM mq._cluster_same_node(queue, dead_letter_queue, 'dead-letter queue');
	END IF;
	PERFORM mq._cluster_alter_queue(queue, visibility_timeout, max_receives,
		dead_letter_queue, message_ttl, max_length, overflow, fifo, dedup_window, archive,
		retention, unlogged, notify, fair, group_concurrency, rate_limit, rate_interval,
		group_rate_limit, durability, min_replicas);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.alter_queue()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_drop_queue(queue text, if_exists bool)
RETURNS bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.drop_queue;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.drop_queue(queue text, if_exists bool DEFAULT false)
RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_drop_queue(queue, if_exists);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.drop_queue()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_purge_queue(queue text)
RETURNS bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.purge_queue;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.purge_queue(queue text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_purge_queue(queue);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.purge_queue()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_peek(queue text, qty int, after_id bigint)
RETURNS TABLE (msg_id bigint, state text, read_ct int, enqueued_at timestamptz,
			   vt timestamptz, priority int, group_key text, dedup_key text, headers jsonb,
			   body jsonb, payload bytea, content_type text, content_encoding text,
			   correlation_id text, reply_to text, expires_at timestamptz, sent_by text) AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.peek;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.peek(queue text, qty int DEFAULT 10, after_id bigint DEFAULT NULL)
RETURNS TABLE (msg_id bigint, state text, read_ct int, enqueued_at timestamptz,
			   vt timestamptz, priority int, group_key text, dedup_key text, headers jsonb,
			   body jsonb, payload bytea, content_type text, content_encoding text,
			   correlation_id text, reply_to text, expires_at timestamptz, sent_by text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_peek(queue, qty, after_id);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.peek()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_redrive(dead_letter_queue text, target text, max_messages bigint)
RETURNS bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(dead_letter_queue);
	TARGET mq.redrive;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.redrive(dead_letter_queue text, target text, max_messages bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_same_node(dead_letter_queue, target, 'redrive target');
	RETURN mq._cluster_redrive(dead_letter_queue, target, max_messages);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(dead_letter_queue, 'mq.redrive()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_send(queue text, body jsonb, headers jsonb, delay interval, dedup_key text, group_key text, priority int, payload bytea, content_type text, content_encoding text, correlation_id text, reply_to text, ttl interval)
RETURNS bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.send;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.send(
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
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_send(queue, body, headers, delay, dedup_key, group_key, priority, payload, content_type, content_encoding, correlation_id, reply_to, ttl);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.send()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_send_batch(queue text, bodies jsonb[], headers jsonb[], delay interval, dedup_keys text[], group_keys text[], priority int, payloads bytea[], content_types text[], content_encoding text, correlation_ids text[], reply_to text, ttl interval)
RETURNS SETOF bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.send_batch;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.send_batch(
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
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_send_batch(queue, bodies, headers, delay, dedup_keys, group_keys, priority, payloads, content_types, content_encoding, correlation_ids, reply_to, ttl);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.send_batch()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_read(queue text, qty int, visibility_timeout interval, wait interval)
RETURNS SETOF mq.message AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.read;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.read(queue text, qty int DEFAULT 1, visibility_timeout interval DEFAULT NULL,
						wait interval DEFAULT '0')
RETURNS SETOF mq.message
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_read(queue, qty, visibility_timeout, wait);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.read()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_pop(queue text, qty int)
RETURNS SETOF mq.message AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.pop;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.pop(queue text, qty int DEFAULT 1)
RETURNS SETOF mq.message
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_pop(queue, qty);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.pop()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_ack(queue text, msg_id bigint)
RETURNS bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.ack;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.ack(queue text, msg_id bigint)
RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_ack(queue, msg_id);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.ack()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_ack_batch(queue text, msg_ids bigint[])
RETURNS SETOF bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.ack_batch;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.ack_batch(queue text, msg_ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_ack_batch(queue, msg_ids);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.ack_batch()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_nack(queue text, msg_id bigint, delay interval)
RETURNS bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.nack;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.nack(queue text, msg_id bigint, delay interval DEFAULT '0')
RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_nack(queue, msg_id, delay);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.nack()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_set_vt(queue text, msg_id bigint, visibility_timeout interval)
RETURNS timestamptz AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.set_vt;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.set_vt(queue text, msg_id bigint, visibility_timeout interval)
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_set_vt(queue, msg_id, visibility_timeout);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.set_vt()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_archive(queue text, msg_id bigint)
RETURNS bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.archive;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.archive(queue text, msg_id bigint)
RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_archive(queue, msg_id);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.archive()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_archive_batch(queue text, msg_ids bigint[])
RETURNS SETOF bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.archive_batch;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.archive_batch(queue text, msg_ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_archive_batch(queue, msg_ids);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.archive_batch()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_compact_queue(queue text)
RETURNS bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.compact_queue;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.compact_queue(queue text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_compact_queue(queue);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.compact_queue()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_metrics(p_node int, p_queue text) RETURNS SETOF mq.queue_metrics AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT m.*, p_node AS node FROM mq.metrics(p_queue) m;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.metrics(queue text)
RETURNS mq.queue_metrics
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r mq.queue_metrics;
BEGIN
	SELECT * INTO r FROM (SELECT * FROM mq._cluster_metrics(mq._cluster_route(queue) & (mq.cluster_size() - 1), queue)) x;
	RETURN r;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.metrics()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_metrics_all(p_nodes int[]) RETURNS SETOF mq.queue_metrics AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT m.*, (p_nodes)[1] AS node FROM mq.metrics_all() m;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.metrics_all()
RETURNS SETOF mq.queue_metrics
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_metrics_all(mq._cluster_all()) ORDER BY node, queue_name;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.metrics_all()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_queues_px(p_nodes int[])
RETURNS TABLE (queue_name text, visibility_timeout interval, max_receives int,
			   dead_letter_queue text, message_ttl interval, max_length bigint,
			   overflow text, fifo bool, dedup_window interval, archive bool,
			   retention interval, unlogged bool, notify bool, created_at timestamptz,
			   owner name, fair bool, group_concurrency int, rate_limit int,
			   rate_interval interval, group_rate_limit int, durability text,
			   min_replicas int, node int) AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT q.*, (p_nodes)[1] AS node FROM mq.queues q;
$$ LANGUAGE plproxy;

/* the same, naming a node that cannot be reached */
CREATE FUNCTION mq._cluster_queues(p_nodes int[])
RETURNS TABLE (queue_name text, visibility_timeout interval, max_receives int,
			   dead_letter_queue text, message_ttl interval, max_length bigint,
			   overflow text, fifo bool, dedup_window interval, archive bool,
			   retention interval, unlogged bool, notify bool, created_at timestamptz,
			   owner name, fair bool, group_concurrency int, rate_limit int,
			   rate_interval interval, group_rate_limit int, durability text,
			   min_replicas int, node int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_queues_px(p_nodes);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'the view mq.queues', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE VIEW mq.queues AS SELECT * FROM mq._cluster_queues(mq._cluster_all());
COMMENT ON VIEW mq.queues IS 'Every queue of every node, with its options, owner and node.';

CREATE FUNCTION mq._cluster_grant_kind(name text) RETURNS text AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(name);
	SELECT CASE WHEN EXISTS (SELECT 1 FROM mq.streams s WHERE s.stream = name)
				THEN 'stream' ELSE 'queue' END;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq._cluster_grant_on(p_nodes int[], queue text, role text, privilege text)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT 1 FROM mq.grant(queue, role, privilege);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq._cluster_revoke_on(p_nodes int[], queue text, role text, privilege text)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT 1 FROM mq.revoke(queue, role, privilege);
$$ LANGUAGE plproxy;

/* the nodes a name's grants live on: a stream's on all, a queue's on its own */
CREATE FUNCTION mq._cluster_grant_nodes(name text) RETURNS int[]
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN mq._cluster_grant_kind(name) = 'stream' THEN mq._cluster_all()
				ELSE ARRAY[mq.cluster_node(name)] END
$$;

CREATE FUNCTION mq.grant(queue text, role text, privilege text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT FROM mq._cluster_grant_on(mq._cluster_grant_nodes(queue), queue, role, privilege)) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.grant()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq.revoke(queue text, role text, privilege text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT FROM mq._cluster_revoke_on(mq._cluster_grant_nodes(queue), queue, role, privilege)) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.revoke()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_privileges_px(p_nodes int[])
RETURNS TABLE (object_type text, object_name text, grantee text, privilege text, node int) AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT p.object_type, p.object_name, p.grantee, p.privilege, (p_nodes)[1] AS node
	FROM mq.privileges p;
$$ LANGUAGE plproxy;

/* the same, naming a node that cannot be reached */
CREATE FUNCTION mq._cluster_privileges(p_nodes int[])
RETURNS TABLE (object_type text, object_name text, grantee text, privilege text, node int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_privileges_px(p_nodes);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'the view mq.privileges', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE VIEW mq.privileges AS SELECT * FROM mq._cluster_privileges(mq._cluster_all());
COMMENT ON VIEW mq.privileges
	IS 'Grants beyond owners and superusers on every node (a stream''s and an exchange''s once a node).';

/* ---- exchanges: on every node; a queue's binding on the queue's node ---- */

CREATE FUNCTION mq._cluster_create_exchange(exchange text, type text) RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	SELECT 1 FROM mq.create_exchange(exchange, type);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.create_exchange(exchange text, type text DEFAULT 'direct',
								   alternate_exchange text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF alternate_exchange IS NOT NULL THEN
		PERFORM mq._cluster_unsupported('an alternate exchange',
			'A publish runs on every node, and a node that has no bound queue for the message would hand it to its alternate exchange: declare exchanges without one, and publish with mandatory => true to learn of unroutable messages.');
	END IF;
	PERFORM mq._cluster_create_exchange(exchange, type);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.create_exchange()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_drop_exchange(exchange text, if_exists bool, "cascade" bool)
RETURNS SETOF bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	TARGET mq.drop_exchange;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.drop_exchange(exchange text, if_exists bool DEFAULT false,
								 "cascade" bool DEFAULT false)
RETURNS bool
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT bool_or(d) FROM mq._cluster_drop_exchange(exchange, if_exists, "cascade") d);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.drop_exchange()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_bind(exchange text, queue text, binding_key text, arguments jsonb)
RETURNS bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.bind;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.bind(exchange text, queue text, binding_key text DEFAULT '',
	arguments jsonb DEFAULT NULL)
RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_bind(exchange, queue, binding_key, arguments);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.bind()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_unbind(exchange text, queue text, binding_key text, arguments jsonb)
RETURNS bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(queue);
	TARGET mq.unbind;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.unbind(exchange text, queue text, binding_key text DEFAULT '',
	arguments jsonb DEFAULT NULL)
RETURNS bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN mq._cluster_unbind(exchange, queue, binding_key, arguments);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(queue, 'mq.unbind()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_bind_exchange(source text, destination text, binding_key text,
										  arguments jsonb)
RETURNS SETOF bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	TARGET mq.bind_exchange;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.bind_exchange(source text, destination text, binding_key text DEFAULT '',
								 arguments jsonb DEFAULT NULL)
RETURNS bool
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT bool_or(b) FROM mq._cluster_bind_exchange(source, destination, binding_key, arguments) b);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.bind_exchange()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_unbind_exchange(source text, destination text, binding_key text,
											arguments jsonb)
RETURNS SETOF bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	TARGET mq.unbind_exchange;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.unbind_exchange(source text, destination text, binding_key text DEFAULT '',
								   arguments jsonb DEFAULT NULL)
RETURNS bool
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT bool_or(b) FROM mq._cluster_unbind_exchange(source, destination, binding_key, arguments) b);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.unbind_exchange()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_publish(
	exchange text, routing_key text, body jsonb, headers jsonb, delay interval,
	dedup_key text, group_key text, priority int, payload bytea, content_type text,
	content_encoding text, correlation_id text, reply_to text, ttl interval)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	SELECT mq.publish(exchange, routing_key, body, headers, delay, dedup_key, group_key,
					  priority, false, payload, content_type, content_encoding,
					  correlation_id, reply_to, ttl);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.publish(
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
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n int;
BEGIN
	SELECT coalesce(sum(d), 0) INTO n
	FROM mq._cluster_publish(exchange, routing_key, body, headers, delay, dedup_key,
							 group_key, priority, payload, content_type, content_encoding,
							 correlation_id, reply_to, ttl) d;
	IF n = 0 AND mandatory THEN
		RAISE EXCEPTION 'message to exchange "%" with routing key "%" is unroutable',
			exchange, routing_key
			USING ERRCODE = 'no_data_found',
				  DETAIL = 'No binding on any node matches it.',
				  HINT = 'Bind a queue that matches the routing key, or publish with mandatory => false to drop unroutable messages.';
	END IF;
	RETURN n;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.publish()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_publish_batch(
	exchange text, routing_keys text[], bodies jsonb[], headers jsonb[], delay interval,
	dedup_keys text[], group_keys text[], priority int, payloads bytea[],
	content_types text[], content_encoding text, correlation_ids text[], reply_to text,
	ttl interval)
RETURNS TABLE (ord bigint, delivered int) AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	SELECT p.ord, p.delivered
	FROM mq.publish_batch(exchange, routing_keys, bodies, headers, delay, dedup_keys,
						  group_keys, priority, false, payloads, content_types,
						  content_encoding, correlation_ids, reply_to, ttl)
		WITH ORDINALITY AS p(delivered, ord);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.publish_batch(
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
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	counts int[];
	i int;
BEGIN
	SELECT array_agg(s ORDER BY o) INTO counts
	FROM (SELECT p.ord AS o, sum(p.delivered)::int AS s
		  FROM mq._cluster_publish_batch(exchange, routing_keys, bodies, headers, delay,
										 dedup_keys, group_keys, priority, payloads,
										 content_types, content_encoding, correlation_ids,
										 reply_to, ttl) p
		  GROUP BY p.ord) t;
	IF mandatory THEN
		FOR i IN 1 .. coalesce(array_length(counts, 1), 0) LOOP
			IF counts[i] = 0 THEN
				RAISE EXCEPTION 'message % of the batch to exchange "%" with routing key "%" is unroutable',
					i, exchange, routing_keys[i]
					USING ERRCODE = 'no_data_found',
						  DETAIL = 'No binding on any node matches it; the others were delivered.',
						  HINT = 'Bind a queue that matches the routing key, or publish with mandatory => false to drop unroutable messages.';
			END IF;
		END LOOP;
	END IF;
	RETURN QUERY SELECT unnest(counts);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.publish_batch()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_grant_exchange(p_grant bool, exchange text, role text, privilege text)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	SELECT 1 FROM (SELECT mq.grant_exchange(exchange, role, privilege) WHERE p_grant
				   UNION ALL
				   SELECT mq.revoke_exchange(exchange, role, privilege) WHERE NOT p_grant) g;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.grant_exchange(exchange text, role text, privilege text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT FROM mq._cluster_grant_exchange(true, exchange, role, privilege)) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.grant_exchange()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq.revoke_exchange(exchange text, role text, privilege text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT FROM mq._cluster_grant_exchange(false, exchange, role, privilege)) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.revoke_exchange()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_exchanges_px()
RETURNS TABLE (exchange_name text, type text, alternate_exchange text, unroutable bigint,
			   created_at timestamptz, owner name) AS $$
	CLUSTER 'mq_cluster';
	RUN ON 0;
	SELECT e.exchange_name, e.type, e.alternate_exchange, NULL::bigint AS unroutable,
		   e.created_at, e.owner
	FROM mq.exchanges e;
$$ LANGUAGE plproxy;

/* the same, naming a node that cannot be reached */
CREATE FUNCTION mq._cluster_exchanges()
RETURNS TABLE (exchange_name text, type text, alternate_exchange text, unroutable bigint,
			   created_at timestamptz, owner name)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_exchanges_px();
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'the view mq.exchanges', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE VIEW mq.exchanges AS SELECT * FROM mq._cluster_exchanges();
COMMENT ON VIEW mq.exchanges
	IS 'Every exchange (node 0''s definitions; unroutable is NULL: a node counts what it alone did not route).';

CREATE FUNCTION mq._cluster_bindings_px(p_nodes int[])
RETURNS TABLE (source text, destination text, destination_type text, binding_key text,
			   arguments jsonb, owner name, node int) AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT b.source, b.destination, b.destination_type, b.binding_key, b.arguments, b.owner,
		   CASE WHEN b.destination_type = 'exchange' THEN NULL ELSE (p_nodes)[1] END AS node
	FROM mq.bindings b
	WHERE b.destination_type <> 'exchange' OR (p_nodes)[1] = 0;
$$ LANGUAGE plproxy;

/* the same, naming a node that cannot be reached */
CREATE FUNCTION mq._cluster_bindings(p_nodes int[])
RETURNS TABLE (source text, destination text, destination_type text, binding_key text,
			   arguments jsonb, owner name, node int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_bindings_px(p_nodes);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'the view mq.bindings', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE VIEW mq.bindings AS SELECT * FROM mq._cluster_bindings(mq._cluster_all());
COMMENT ON VIEW mq.bindings
	IS 'Every binding: a queue''s with its node, an exchange''s (on every node) once with node NULL.';

/* ---- streams: L = P / N partitions on every node, global g = node * L + local ---- */

/* the partition of a key: FNV-1a of its bytes modulo the partitions, as on a node */
CREATE FUNCTION mq.stream_partition(key text, partitions int) RETURNS int
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b bytea := convert_to(key, current_setting('server_encoding'));
	h bigint := 2166136261;
	i int;
BEGIN
	IF partitions < 1 THEN
		RAISE EXCEPTION 'partitions must be positive'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the stream''s number of partitions (mq.streams).';
	END IF;
	FOR i IN 0 .. length(b) - 1 LOOP
		h := (h # get_byte(b, i)) * 16777619 % 4294967296;
	END LOOP;
	RETURN (h % partitions)::int;
END
$$;

/* a stream's partitions on each node (looked up on the node of its name) */
CREATE FUNCTION mq._cluster_stream_local(stream text) RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	RUN ON mq._cluster_route(stream);
	SELECT s.partitions FROM mq.streams s WHERE s.stream = stream;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq._cluster_stream_partitions(stream text) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	l int := (SELECT max(x) FROM mq._cluster_stream_local(stream) x);
BEGIN
	IF l IS NULL THEN
		RAISE EXCEPTION 'stream "%" does not exist', stream
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with mq.create_stream() through the proxy.';
	END IF;
	RETURN l;
END
$$;

/* the node and local partition of global partition g of a stream */
CREATE FUNCTION mq._cluster_partition(stream text, g int, OUT node int, OUT local int,
									  OUT per_node int)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	per_node := mq._cluster_stream_partitions(stream);
	IF g IS NULL OR g < 0 OR g >= per_node * mq.cluster_size() THEN
		RAISE EXCEPTION 'partition % of stream "%" does not exist', g, stream
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Its partitions are 0 to %s.', per_node * mq.cluster_size() - 1);
	END IF;
	node := g / per_node;
	local := g % per_node;
END
$$;

/* where global partition g of a stream lives: its node and its partition there */
CREATE FUNCTION mq.cluster_partition(stream text, partition int, OUT node int,
									 OUT local_partition int)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT * INTO node, local_partition FROM (SELECT p.node, p.local FROM mq._cluster_partition(stream, partition) p) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.cluster_partition()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;
COMMENT ON FUNCTION mq.cluster_partition(text, int)
	IS 'The node of a stream''s partition and its number there (for work in the same transaction as a commit on that node).';

CREATE FUNCTION mq._cluster_create_stream(stream text, partitions int, retention interval,
										  retention_bytes bigint, unlogged bool,
										  durability text, min_replicas int)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	SELECT 1 FROM mq.create_stream(stream, partitions, retention, retention_bytes, unlogged,
								   durability, min_replicas);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq._cluster_check_partitions(partitions int) RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n int := mq.cluster_size();
BEGIN
	IF partitions IS NULL THEN
		RETURN NULL;
	END IF;
	IF partitions < n OR partitions % n <> 0 THEN
		RAISE EXCEPTION 'a stream of the mq cluster needs a multiple of % partitions, not %', n, partitions
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('Each of the %s nodes holds the same number of partitions.', n),
				  HINT = format('Use %s, %s or %s partitions.', n, 2 * n, 4 * n);
	END IF;
	RETURN partitions / n;
END
$$;

CREATE FUNCTION mq.create_stream(stream text, partitions int DEFAULT NULL,
								 retention interval DEFAULT '7 days',
								 retention_bytes bigint DEFAULT NULL,
								 unlogged bool DEFAULT false,
								 durability text DEFAULT 'local',
								 min_replicas int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT FROM mq._cluster_create_stream(stream,
		mq._cluster_check_partitions(coalesce(partitions, mq.cluster_size())),
		retention, retention_bytes, unlogged, durability, min_replicas)) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.create_stream()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_alter_stream(stream text, partitions int, retention interval,
										 retention_bytes bigint, durability text,
										 min_replicas int)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	SELECT 1 FROM mq.alter_stream(stream, partitions, retention, retention_bytes, durability,
								  min_replicas);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.alter_stream(stream text, partitions int DEFAULT NULL,
								retention interval DEFAULT NULL,
								retention_bytes bigint DEFAULT NULL,
								durability text DEFAULT NULL,
								min_replicas int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT FROM mq._cluster_alter_stream(stream, mq._cluster_check_partitions(partitions),
		retention, retention_bytes, durability, min_replicas)) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.alter_stream()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_drop_stream(stream text, if_exists bool) RETURNS SETOF bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	TARGET mq.drop_stream;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.drop_stream(stream text, if_exists bool DEFAULT false)
RETURNS bool
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT bool_or(d) FROM mq._cluster_drop_stream(stream, if_exists) d);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.drop_stream()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_append(p_node int, p_per_node int, stream text, body jsonb,
								   key text, headers jsonb, payload bytea, content_type text,
								   content_encoding text, correlation_id text, reply_to text)
RETURNS mq.stream_position AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT p_node * p_per_node + a.partition AS partition, a.position
	FROM mq.append(stream, body, key, headers, payload, content_type, content_encoding,
				   correlation_id, reply_to) a;
$$ LANGUAGE plproxy;

/* the node of a record: its key's global partition's, or any for none */
CREATE FUNCTION mq._cluster_key_node(key text, per_node int) RETURNS int
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN key IS NULL THEN floor(random() * mq.cluster_size())::int
				ELSE mq.stream_partition(key, per_node * mq.cluster_size()) / per_node END
$$;

CREATE FUNCTION mq.append(stream text, body jsonb DEFAULT NULL, key text DEFAULT NULL,
						  headers jsonb DEFAULT NULL, payload bytea DEFAULT NULL,
						  content_type text DEFAULT NULL, content_encoding text DEFAULT NULL,
						  correlation_id text DEFAULT NULL, reply_to text DEFAULT NULL)
RETURNS mq.stream_position
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	l int;
BEGIN
	l := mq._cluster_stream_partitions(stream);
	RETURN mq._cluster_append(mq._cluster_key_node(key, l), l, stream, body, key, headers,
							  payload, content_type, content_encoding, correlation_id,
							  reply_to);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.append()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_append_batch(p_node int, p_per_node int, stream text,
										 bodies jsonb[], keys text[], headers jsonb[],
										 payloads bytea[], content_types text[],
										 content_encoding text, correlation_ids text[],
										 reply_to text)
RETURNS SETOF mq.stream_position AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT p_node * p_per_node + a.partition AS partition, a.position
	FROM mq.append_batch(stream, bodies, keys, headers, payloads, content_types,
						 content_encoding, correlation_ids, reply_to) a;
$$ LANGUAGE plproxy;

/*
 * A batch goes to each node in one call with the records of that node, in
 * their order; the positions come back in the order of the batch.
 */
CREATE FUNCTION mq.append_batch(stream text, bodies jsonb[] DEFAULT NULL,
								keys text[] DEFAULT NULL, headers jsonb[] DEFAULT NULL,
								payloads bytea[] DEFAULT NULL, content_types text[] DEFAULT NULL,
								content_encoding text DEFAULT NULL,
								correlation_ids text[] DEFAULT NULL, reply_to text DEFAULT NULL)
RETURNS SETOF mq.stream_position
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	l int;
	n int := greatest(coalesce(array_length(bodies, 1), 0), coalesce(array_length(keys, 1), 0),
					  coalesce(array_length(payloads, 1), 0));
	nodes int[];
	node int;
	idx int[];
	result mq.stream_position[];
	p mq.stream_position;
	i int;
	j int;
BEGIN
	l := mq._cluster_stream_partitions(stream);
	IF n = 0 THEN
		-- the node says what is wrong with an empty batch, or returns nothing
		RETURN QUERY SELECT * FROM mq._cluster_append_batch(0, l, stream, bodies, keys, headers,
			payloads, content_types, content_encoding, correlation_ids, reply_to);
		RETURN;
	END IF;
	-- a key-less batch goes to one node, as one batch
	nodes := array_fill(mq._cluster_key_node(NULL, l), ARRAY[n]);
	IF keys IS NOT NULL THEN
		FOR i IN 1 .. n LOOP
			IF keys[i] IS NOT NULL THEN
				nodes[i] := mq._cluster_key_node(keys[i], l);
			END IF;
		END LOOP;
	END IF;
	result := array_fill(NULL::mq.stream_position, ARRAY[n]);
	FOR node IN SELECT DISTINCT x FROM unnest(nodes) x ORDER BY 1 LOOP
		SELECT array_agg(o ORDER BY o) INTO idx
		FROM unnest(nodes) WITH ORDINALITY AS t(x, o) WHERE x = node;
		j := 0;
		FOR p IN
			SELECT * FROM mq._cluster_append_batch(node, l, stream,
				(SELECT array_agg(bodies[o] ORDER BY o) FROM unnest(idx) o WHERE bodies IS NOT NULL),
				(SELECT array_agg(keys[o] ORDER BY o) FROM unnest(idx) o WHERE keys IS NOT NULL),
				(SELECT array_agg(headers[o] ORDER BY o) FROM unnest(idx) o WHERE headers IS NOT NULL),
				(SELECT array_agg(payloads[o] ORDER BY o) FROM unnest(idx) o WHERE payloads IS NOT NULL),
				(SELECT array_agg(content_types[o] ORDER BY o) FROM unnest(idx) o WHERE content_types IS NOT NULL),
				content_encoding,
				(SELECT array_agg(correlation_ids[o] ORDER BY o) FROM unnest(idx) o WHERE correlation_ids IS NOT NULL),
				reply_to)
		LOOP
			j := j + 1;
			result[idx[j]] := p;
		END LOOP;
	END LOOP;
	RETURN QUERY SELECT (r).* FROM unnest(result) r;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.append_batch()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_read_stream(p_node int, p_per_node int, p_stream text,
										p_partition int, p_from bigint, p_max int)
RETURNS SETOF mq.stream_record AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT p_node * p_per_node + r.partition AS partition, r.position, r.key, r.headers, r.body,
		   r.appended_at, r.payload, r.content_type, r.content_encoding, r.correlation_id,
		   r.reply_to, r.sent_by
	FROM mq.read_stream(p_stream, p_partition, p_from, p_max) r;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.read_stream(stream text, partition int, from_position bigint,
							   max int DEFAULT 100)
RETURNS SETOF mq.stream_record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT r.* FROM mq._cluster_partition(stream, partition) p,
		LATERAL mq._cluster_read_stream(p.node, p.per_node, stream, p.local, from_position, max) r;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.read_stream()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_stream_end(p_node int, stream text, partition int) RETURNS bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT mq.stream_end(stream, partition);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.stream_end(stream text, partition int)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT mq._cluster_stream_end(p.node, stream, p.local) FROM mq._cluster_partition(stream, partition) p);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.stream_end()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_stream_start(p_node int, stream text, partition int) RETURNS bigint AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT mq.stream_start(stream, partition);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.stream_start(stream text, partition int)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT mq._cluster_stream_start(p.node, stream, p.local) FROM mq._cluster_partition(stream, partition) p);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.stream_start()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_partition_holder(p_node int, stream text, consumer_group text,
											 partition int,
											 OUT consumer text, OUT held_until timestamptz) AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT h.consumer, h.held_until FROM mq.partition_holder(stream, consumer_group, partition) h;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.partition_holder(stream text, consumer_group text, partition int,
									OUT consumer text, OUT held_until timestamptz)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT * INTO consumer, held_until FROM (SELECT h.consumer, h.held_until FROM mq._cluster_partition(stream, partition) p,
		LATERAL mq._cluster_partition_holder(p.node, stream, consumer_group, p.local) h) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.partition_holder()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_create_consumer_group(stream text, consumer_group text, start text)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	SELECT 1 FROM mq.create_consumer_group(stream, consumer_group, start);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.create_consumer_group(stream text, consumer_group text,
										 start text DEFAULT 'latest')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT FROM mq._cluster_create_consumer_group(stream, consumer_group, start)) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.create_consumer_group()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_drop_consumer_group(stream text, consumer_group text)
RETURNS SETOF bool AS $$
	CLUSTER 'mq_cluster';
	RUN ON ALL;
	TARGET mq.drop_consumer_group;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.drop_consumer_group(stream text, consumer_group text)
RETURNS bool
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT bool_or(d) FROM mq._cluster_drop_consumer_group(stream, consumer_group) d);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.drop_consumer_group()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_seek(p_nodes int[], p_stream text, p_group text, p_partition int,
								 p_position bigint, p_at timestamptz, p_to_end text)
RETURNS SETOF int AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT 1 FROM mq.seek(p_stream, p_group, p_partition, p_position, p_at, p_to_end);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.seek(stream text, consumer_group text, partition int DEFAULT NULL,
						"position" bigint DEFAULT NULL, at timestamptz DEFAULT NULL,
						to_end text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
BEGIN
	IF partition IS NULL THEN
		PERFORM mq._cluster_seek(mq._cluster_all(), stream, consumer_group, NULL, "position",
								 at, to_end);
	ELSE
		p := mq._cluster_partition(stream, partition);
		PERFORM mq._cluster_seek(ARRAY[p.node], stream, consumer_group, p.local, "position",
								 at, to_end);
	END IF;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.seek()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_poll(p_nodes int[], stream text, consumer_group text, consumer text,
								 max int, session_timeout interval)
RETURNS SETOF mq.stream_record AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT (p_nodes)[1] * (SELECT s.partitions FROM mq.streams s WHERE s.stream = stream)
			   + r.partition AS partition, r.position, r.key, r.headers,
		   r.body, r.appended_at, r.payload, r.content_type, r.content_encoding,
		   r.correlation_id, r.reply_to, r.sent_by
	FROM mq.poll(stream, consumer_group, consumer, max, '0', session_timeout) r;
$$ LANGUAGE plproxy;

/*
 * A poll asks every node for up to max records of the partitions the
 * consumer holds there; with wait, it asks again every 100 ms until some
 * come or the wait ends (a node's own wait would hold the others' records).
 */
CREATE FUNCTION mq.poll(stream text, consumer_group text, consumer text,
						max int DEFAULT 100, wait interval DEFAULT '0',
						session_timeout interval DEFAULT '30 seconds')
RETURNS SETOF mq.stream_record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + coalesce(wait, '0');
	found int;
BEGIN
	LOOP
		RETURN QUERY SELECT * FROM mq._cluster_poll(mq._cluster_all(), stream, consumer_group,
													consumer, max, session_timeout);
		GET DIAGNOSTICS found = ROW_COUNT;
		EXIT WHEN found > 0 OR clock_timestamp() >= deadline;
		PERFORM pg_sleep(least(0.1, extract(epoch FROM deadline - clock_timestamp())));
	END LOOP;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.poll()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_commit(p_node int, p_stream text, p_group text, p_consumer text,
								   p_partition int, p_position bigint)
RETURNS void AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT mq.commit(p_stream, p_group, p_consumer, p_partition, p_position);
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.commit(stream text, consumer_group text, consumer text, partition int,
						  "position" bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM count(*) FROM (SELECT mq._cluster_commit(p.node, stream, consumer_group, consumer, p.local, "position")
	FROM mq._cluster_partition(stream, partition) p) x;
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.commit()', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE FUNCTION mq._cluster_streams_on_px(p_node int, p_size int)
RETURNS TABLE (stream text, partitions int, retention interval, retention_bytes bigint,
			   unlogged bool, created_at timestamptz, owner name, durability text,
			   min_replicas int) AS $$
	CLUSTER 'mq_cluster';
	RUN ON p_node;
	SELECT s.stream, s.partitions * p_size AS partitions, s.retention, s.retention_bytes,
		   s.unlogged, s.created_at, s.owner, s.durability, s.min_replicas
	FROM mq.streams s;
$$ LANGUAGE plproxy;

/* the same, naming a node that cannot be reached */
CREATE FUNCTION mq._cluster_streams_on(p_node int, p_size int)
RETURNS TABLE (stream text, partitions int, retention interval, retention_bytes bigint,
			   unlogged bool, created_at timestamptz, owner name, durability text,
			   min_replicas int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_streams_on_px(p_node, p_size);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'the view mq.streams', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE VIEW mq.streams AS SELECT * FROM mq._cluster_streams_on(0, mq.cluster_size());
COMMENT ON VIEW mq.streams IS 'Every stream (node 0''s definitions) with its partitions over all nodes.';

CREATE FUNCTION mq._cluster_consumer_groups_px(p_nodes int[])
RETURNS TABLE (stream text, consumer_group text, partition int, committed_position bigint,
			   end_position bigint, lag bigint, consumer text, held_until timestamptz,
			   start_position bigint, skipped bigint, node int) AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT g.stream, g.consumer_group, (p_nodes)[1] * s.partitions + g.partition AS partition,
		   g.committed_position, g.end_position, g.lag, g.consumer, g.held_until,
		   g.start_position, g.skipped, (p_nodes)[1] AS node
	FROM mq.consumer_groups g JOIN mq.streams s ON s.stream = g.stream;
$$ LANGUAGE plproxy;

/* the same, naming a node that cannot be reached */
CREATE FUNCTION mq._cluster_consumer_groups(p_nodes int[])
RETURNS TABLE (stream text, consumer_group text, partition int, committed_position bigint,
			   end_position bigint, lag bigint, consumer text, held_until timestamptz,
			   start_position bigint, skipped bigint, node int)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_consumer_groups_px(p_nodes);
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'the view mq.consumer_groups', SQLSTATE || ': ' || SQLERRM);
	RAISE;
END
$$;

CREATE VIEW mq.consumer_groups AS
	SELECT * FROM mq._cluster_consumer_groups(mq._cluster_all())
	ORDER BY stream, consumer_group, partition;
COMMENT ON VIEW mq.consumer_groups
	IS 'Every consumer group''s partitions on every node: committed position, end, lag, holder, node.';

/* ---- the rest: every node, or not through the proxy ---- */

CREATE FUNCTION mq._cluster_maintain(p_nodes int[],
	OUT queue_name text, OUT dead_lettered bigint, OUT expired bigint,
	OUT archive_deleted bigint, OUT dedup_keys_pruned bigint)
RETURNS SETOF record AS $$
	CLUSTER 'mq_cluster';
	SPLIT p_nodes;
	RUN ON p_nodes;
	SELECT m.queue_name, m.dead_lettered, m.expired, m.archive_deleted, m.dedup_keys_pruned
	FROM mq.maintain() m;
$$ LANGUAGE plproxy;

CREATE FUNCTION mq.maintain(
	OUT queue_name text, OUT dead_lettered bigint, OUT expired bigint,
	OUT archive_deleted bigint, OUT dedup_keys_pruned bigint)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM mq._cluster_maintain(mq._cluster_all());
EXCEPTION WHEN internal_error OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
	PERFORM mq._cluster_failed(NULL, 'mq.maintain()', SQLSTATE || ': ' || SQLERRM, true);
	RAISE;
END
$$;

CREATE FUNCTION mq.metrics_prometheus() RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_unsupported('mq.metrics_prometheus()',
		'Scrape every node''s mq.metrics_prometheus() (each is one target), or read mq.metrics_all() here.');
	RETURN NULL;
END
$$;

CREATE FUNCTION mq.worker_status(OUT pid int, OUT dboid oid, OUT state text, OUT last_work text,
								 OUT last_work_at timestamptz, OUT next_wake timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_unsupported('mq.worker_status()',
		'Background workers run on the nodes: query mq.workers on each node.');
END
$$;

CREATE FUNCTION mq.shared_memory_usage(OUT pool text, OUT role regrole, OUT entries int,
									   OUT role_limit int, OUT capacity int)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_unsupported('mq.shared_memory_usage()',
		'Shared memory belongs to each node: call it on each node.');
END
$$;

/* triggers would send from the proxy's transaction, which no node shares */
CREATE FUNCTION mq.send_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_unsupported('mq.send_trigger()',
		'A proxy call commits on its node by itself, so a rollback here could not undo it: create the trigger in a database with mq installed (a node).');
	RETURN NULL;
END
$$;

CREATE FUNCTION mq.publish_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_unsupported('mq.publish_trigger()',
		'A proxy call commits on its node by itself, so a rollback here could not undo it: create the trigger in a database with mq installed (a node).');
	RETURN NULL;
END
$$;

CREATE FUNCTION mq.append_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM mq._cluster_unsupported('mq.append_trigger()',
		'A proxy call commits on its node by itself, so a rollback here could not undo it: create the trigger in a database with mq installed (a node).');
	RETURN NULL;
END
$$;

GRANT USAGE ON SCHEMA mq TO PUBLIC;
GRANT SELECT ON mq.queues, mq.privileges, mq.exchanges, mq.bindings, mq.streams, mq.consumer_groups TO PUBLIC;
