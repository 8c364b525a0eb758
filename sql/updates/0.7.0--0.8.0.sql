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
