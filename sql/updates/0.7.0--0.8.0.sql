/*
 * 0.7.0 -> 0.8.0.  0.8.0 is the first version whose scripts are built from
 * sql/src/ (src/README.md, "SQL sources"); the definitions that follow this
 * delta in the update script restate the functions, views, grants and
 * comments.
 *
 * A binding records the role that made it (mq._binding.owner): routing
 * follows it only while that role may send to the destination.  Bindings
 * made before 0.8.0 count as made by their destination's owner, so that
 * they go on delivering as before; that owner can remove them.
 */
ALTER TABLE mq._binding ADD COLUMN owner oid;
UPDATE mq._binding b SET owner = coalesce(
	(SELECT q.owner FROM mq._queue q WHERE q.queue_id = b.queue_id),
	(SELECT e.owner FROM mq._exchange e WHERE e.exchange_id = b.exchange_id),
	(SELECT s.owner FROM mq._stream s WHERE s.stream_id = b.stream_id));
ALTER TABLE mq._binding ALTER COLUMN owner SET NOT NULL;

/*
 * Durability per queue and per stream (doc/operations.md, "Durability"):
 * 'local' (what every existing one was) or 'replicated' with min_replicas.
 * The management functions take the two options last, so their old
 * signatures go (the definitions that follow make the new ones).
 */
ALTER TABLE mq._queue ADD COLUMN durability text NOT NULL DEFAULT 'local';
ALTER TABLE mq._queue ADD COLUMN min_replicas int;
ALTER TABLE mq._stream ADD COLUMN durability text NOT NULL DEFAULT 'local';
ALTER TABLE mq._stream ADD COLUMN min_replicas int;
/*
 * Functions whose arguments change are renamed here, not dropped: the last
 * step of the update (0.7.0--0.8.0.after.sql) gives the new ones what users
 * granted or revoked on the old ones, then drops them.
 */
ALTER FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int) RENAME TO _pre_0_8_create_queue;
ALTER FUNCTION mq.alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int) RENAME TO _pre_0_8_alter_queue;
DROP FUNCTION mq._create_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int);
DROP FUNCTION mq._alter_queue(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int);
DROP FUNCTION mq._queue_options(text, interval, int, text, interval, bigint, text, bool,
	interval, bool, interval, bool, bool, bool, int, int, interval, int);
ALTER FUNCTION mq.create_stream(text, int, interval, bigint, bool) RENAME TO _pre_0_8_create_stream;
ALTER FUNCTION mq.alter_stream(text, int, interval, bigint) RENAME TO _pre_0_8_alter_stream;
DROP FUNCTION mq._create_stream(text, int, interval, bigint, bool);
DROP FUNCTION mq._alter_stream(text, int, interval, bigint);

/*
 * Messages as brokers define them (doc/messages.md): a JSON body or a
 * bytes payload with its content type and encoding, AMQP's correlation_id
 * and reply_to, a per-message expiry, and the role that sent it.  Every
 * queue's tables gain the columns (NULL for the messages already there:
 * JSON, no properties, sender unknown); a body may now be NULL.  Adding
 * nullable columns rewrites no table.
 */
ALTER TYPE mq.message
	ADD ATTRIBUTE payload bytea,
	ADD ATTRIBUTE content_type text,
	ADD ATTRIBUTE content_encoding text,
	ADD ATTRIBUTE correlation_id text,
	ADD ATTRIBUTE reply_to text,
	ADD ATTRIBUTE expires_at timestamptz,
	ADD ATTRIBUTE sent_by text;
DO $$
DECLARE
	t text;
BEGIN
	FOR t IN SELECT p || queue_id FROM mq._queue, unnest(ARRAY['q_', 'a_']) p ORDER BY queue_id, p
	LOOP
		EXECUTE format($ddl$
			ALTER TABLE mq.%I
				ALTER COLUMN body DROP NOT NULL,
				ADD COLUMN payload bytea,
				ADD COLUMN content_type text,
				ADD COLUMN content_encoding text,
				ADD COLUMN correlation_id text,
				ADD COLUMN reply_to text,
				ADD COLUMN expires_at timestamptz,
				ADD COLUMN sent_by text$ddl$, t);
	END LOOP;
END;
$$;
ALTER FUNCTION mq.send(text, jsonb, jsonb, interval, text, text, int) RENAME TO _pre_0_8_send;
ALTER FUNCTION mq.send_batch(text, jsonb[], jsonb[], interval, text[], text[], int) RENAME TO _pre_0_8_send_batch;
ALTER FUNCTION mq.publish(text, text, jsonb, jsonb, interval, text, text, int, bool) RENAME TO _pre_0_8_publish;
ALTER FUNCTION mq.publish_batch(text, text[], jsonb[], jsonb[], interval, text[], text[], int, bool) RENAME TO _pre_0_8_publish_batch;

/* streams: payloads and properties (issue 31) */
/*
 * Stream records gain the same: a bytes payload with its content type and
 * encoding, correlation_id, reply_to and sent_by (no expiry: retention
 * ends records).  Every kept segment table gains the columns, NULL for the
 * records already there, and its body may now be NULL.  A segment listed
 * in mq._stream_segment whose table is gone (dropped by retention in the
 * same run) is skipped.
 */
ALTER TYPE mq.stream_record
	ADD ATTRIBUTE payload bytea,
	ADD ATTRIBUTE content_type text,
	ADD ATTRIBUTE content_encoding text,
	ADD ATTRIBUTE correlation_id text,
	ADD ATTRIBUTE reply_to text,
	ADD ATTRIBUTE sent_by text;
DO $$
DECLARE
	t text;
BEGIN
	FOR t IN SELECT 's_' || stream_id || '_' || segment FROM mq._stream_segment
			 ORDER BY stream_id, segment
	LOOP
		IF to_regclass(format('mq.%I', t)) IS NULL THEN
			CONTINUE;
		END IF;
		EXECUTE format($ddl$
			ALTER TABLE mq.%I
				ALTER COLUMN body DROP NOT NULL,
				ADD COLUMN payload bytea,
				ADD COLUMN content_type text,
				ADD COLUMN content_encoding text,
				ADD COLUMN correlation_id text,
				ADD COLUMN reply_to text,
				ADD COLUMN sent_by text$ddl$, t);
	END LOOP;
END;
$$;
ALTER FUNCTION mq.append(text, jsonb, text, jsonb) RENAME TO _pre_0_8_append;
ALTER FUNCTION mq.append_batch(text, jsonb[], text[], jsonb[]) RENAME TO _pre_0_8_append_batch;
