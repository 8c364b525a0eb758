-- A lease is a HOT update even when no page can be pruned (the case while
-- another session holds a snapshot): a queue table's pages are filled to
-- half, which leaves room for a new version of every message on its page.
SELECT mq.create_queue('storage_a');
SELECT mq._queue_id('storage_a') AS qid \gset
SELECT reloptions FROM pg_class WHERE oid = ('mq.q_' || :qid)::regclass;
SELECT count(*) FROM mq.send_batch('storage_a',
	ARRAY(SELECT jsonb_build_object('order', g, 'note', repeat('x', g % 50)) FROM generate_series(1, 2000) g));
-- every message leased once in one transaction: the old versions are not
-- dead until it ends, so nothing on the pages can be pruned meanwhile
BEGIN;
SELECT count(*) FROM mq.read('storage_a', 1000, '1 minute');
SELECT count(*) FROM mq.read('storage_a', 1000, '1 minute');
SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables
WHERE relid = ('mq.q_' || :qid)::regclass;
COMMIT;
-- a compaction keeps the setting
SELECT mq.compact_queue('storage_a');
SELECT reloptions FROM pg_class WHERE oid = ('mq.q_' || :qid)::regclass;
-- and so does a change of persistence (a rewrite)
SELECT mq.alter_queue('storage_a', unlogged => true);
SELECT relpersistence, reloptions FROM pg_class WHERE oid = ('mq.q_' || :qid)::regclass;
SELECT mq.drop_queue('storage_a');
