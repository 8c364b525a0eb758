/*
 * catalog.sql: mq's tables, sequences, indexes and types, as a new
 * installation makes them.
 *
 * Install-only: this file opens sql/mq--<version>.sql and is not in the
 * update scripts (it could not run twice).  A change here needs the same
 * change, as ALTER statements, in the update's delta
 * (sql/updates/<old>--<new>.sql), and test/t/006_upgrade.pl compares the
 * two.  Columns added by an update come last here too, in the order the
 * update adds them, so that a table's row type is the same either way.
 * Functions, views, grants and comments are in the other files of
 * sql/src/, which both scripts run.
 */

/*
 * Catalog.  One row per queue.  The per-queue message tables are named from
 * queue_id (mq.q_<id>, mq.a_<id> for the archive), never from user text.
 * The catalog's rows are dumped by pg_dump (pg_extension_config_dump); the
 * per-queue tables are not members of the extension, so pg_dump dumps them
 * and their data like any other table.
 *
 * The last five columns are the options of fair queues and limits (0.4.0;
 * README, "Fairness and limits"):
 *   fair              reads serve the groups (group_key) in turn
 *   group_concurrency at most this many messages of one group leased at once
 *   rate_limit        at most this many messages handed out per rate_interval
 *   rate_interval     the interval of both rate limits (1 second)
 *   group_rate_limit  the same per group
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
	created_at		timestamptz NOT NULL DEFAULT now(),
	fair			bool NOT NULL DEFAULT false,
	group_concurrency int,
	rate_limit		int,
	rate_interval	interval NOT NULL DEFAULT '1 second',
	group_rate_limit int,
	durability		text NOT NULL DEFAULT 'local',	-- 0.8.0: or 'replicated'
	min_replicas	int					-- 'replicated': synchronous standbys a send needs
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
 * queues and streams; publish, manage on exchanges.  grantee 0 is PUBLIC.
 */
CREATE TABLE mq._privilege (
	object_type		text NOT NULL CHECK (object_type IN ('queue', 'exchange', 'stream')),
	object_id		int NOT NULL,
	grantee			oid NOT NULL,
	privilege		text NOT NULL CHECK (privilege IN ('send', 'read', 'manage', 'publish')),
	PRIMARY KEY (object_type, object_id, grantee, privilege)
);
SELECT pg_catalog.pg_extension_config_dump('mq._privilege', '');

/*
 * Exchanges and bindings (AMQP 0-9-1 model).  Routing is done in C
 * (exchange_route.c) from a per-backend cache of this catalog, invalidated by the
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

/* unroutable messages, counted when they happen (rare) */
CREATE TABLE mq._exchange_stats (
	exchange_id		int PRIMARY KEY REFERENCES mq._exchange (exchange_id) ON DELETE CASCADE,
	unroutable		bigint NOT NULL DEFAULT 0
);

/*
 * Streams (README, "Streams"): partitioned, retained logs.  Records live in
 * segment tables mq.s_<id>_<segment>, one row of mq._stream_segment each;
 * appends go to the newest.
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
	created_at		timestamptz NOT NULL DEFAULT now(),
	durability		text NOT NULL DEFAULT 'local',	-- 0.8.0: or 'replicated'
	min_replicas	int					-- 'replicated': synchronous standbys an append needs
);
ALTER SEQUENCE mq._stream_id_seq OWNED BY mq._stream.stream_id;
CREATE TABLE mq._stream_segment (
	stream_id		int NOT NULL REFERENCES mq._stream (stream_id) ON DELETE CASCADE,
	segment			int NOT NULL,
	opened_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (stream_id, segment)
);

/*
 * A binding's destination is a queue, an exchange or a stream (stream_id,
 * 0.5.0: last, as the update added it): a message routed to a stream is
 * appended with the publish's group_key as the record's key.  owner (0.8.0)
 * is the role that made the binding: routing uses it only while that role
 * may still send to the destination (exchange_route.c).
 */
CREATE TABLE mq._binding (
	source_id		int NOT NULL REFERENCES mq._exchange (exchange_id),
	queue_id		int REFERENCES mq._queue (queue_id) ON DELETE CASCADE,
	exchange_id		int REFERENCES mq._exchange (exchange_id),
	binding_key		text NOT NULL,
	arguments		jsonb NOT NULL DEFAULT '{}',
	stream_id		int REFERENCES mq._stream (stream_id) ON DELETE CASCADE,
	owner			oid NOT NULL,
	CONSTRAINT _binding_check CHECK (num_nonnulls(queue_id, exchange_id, stream_id) = 1)
);
CREATE UNIQUE INDEX _binding_unique ON mq._binding
	(source_id, coalesce(queue_id, 0), coalesce(exchange_id, 0), coalesce(stream_id, 0),
	 binding_key, arguments);
CREATE INDEX _binding_queue ON mq._binding (queue_id);
CREATE INDEX _binding_exchange ON mq._binding (exchange_id);
CREATE INDEX _binding_stream ON mq._binding (stream_id);

SELECT pg_catalog.pg_extension_config_dump('mq._exchange', '');
SELECT pg_catalog.pg_extension_config_dump('mq._exchange_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mq._binding', '');
SELECT pg_catalog.pg_extension_config_dump('mq._exchange_stats', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_segment', '');

/*
 * Consumer groups of streams.  Members, holders and fetch positions live in
 * shared memory (stream_group.c); committed positions are inserted rows, never
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
 * union of both (stream.sql), is what everything reads.
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
SELECT pg_catalog.pg_extension_config_dump('mq._stream_group', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_group_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_commit_0', '');
SELECT pg_catalog.pg_extension_config_dump('mq._stream_commit_1', '');

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
	body		jsonb,
	payload		bytea,
	content_type text,
	content_encoding text,
	correlation_id text,
	reply_to	text,
	expires_at	timestamptz,
	sent_by		text
);

/* What mq.metrics() returns (the last four: fair queues and limits, 0.4.0). */
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
	group_rate_limited bigint
);

/* Where mq.append() put a record, and a record as reads return it. */
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
