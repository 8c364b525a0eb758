/* mq 0.5.0 -> 0.6.0: compaction of queue tables (README, "Compaction") */
\echo Use "ALTER EXTENSION mq UPDATE TO '0.6.0'" to load this file. \quit

/*
 * Compact a queue's message table now: under its ACCESS EXCLUSIVE lock
 * (waited for as any lock: lock_timeout applies) the messages are copied
 * out, the table truncated and the messages put back, in the caller's
 * transaction; returns how many it kept.  The background worker does the
 * same by itself (mq.compact_threshold).
 */
CREATE FUNCTION mq.compact_queue(queue text) RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_compact_queue' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.compact_queue(text) IS
	'Rewrite a queue''s table without its dead row versions (copy, TRUNCATE, copy back); returns how many messages it kept.';
