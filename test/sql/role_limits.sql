-- Per-role limits on mq's tables in shared memory, and their release
-- (doc/security.md, "Sharing a server").  The limits are the session's
-- (set here by the superuser before SET ROLE; roles cannot raise them).
\set SHOW_CONTEXT never

CREATE ROLE regress_mq_tenant;
CREATE ROLE regress_mq_hostile;
CREATE FUNCTION pg_temp.usage() RETURNS TABLE (pool text, role regrole, entries int, role_limit int)
LANGUAGE sql AS $$
	SELECT u.pool, u.role, u.entries, u.role_limit FROM mq.shared_memory_usage() u
	WHERE u.role::text IN ('regress_mq_tenant', 'regress_mq_hostile') ORDER BY u.pool, u.role::text
$$;
SET mq.max_rate_groups_per_role = 4;
SET mq.max_stream_partitions_per_role = 6;
SET mq.max_stream_consumers_per_role = 3;
SET mq.max_group_partitions_per_role = 4;

-- only a superuser sets them
SET ROLE regress_mq_hostile;
SET mq.max_rate_groups_per_role = 1000000;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SHOW mq.max_rate_groups_per_role;

-- rate buckets: a group rate limit that never refills, read with many
-- groups, holds at most the owner's share; the others are held back
SELECT mq.create_queue('lim_hostile', group_rate_limit => 1, rate_interval => '100 years');
SELECT count(*) FROM mq.send_batch('lim_hostile', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 10)),
	group_keys => ARRAY(SELECT 'g' || g FROM generate_series(1, 10) g));
SELECT count(*) FROM mq.read('lim_hostile', 100);
SELECT count(*) FROM mq.read('lim_hostile', 100);
-- another role's rate-limited queue still gets buckets
SET ROLE regress_mq_tenant;
SELECT mq.create_queue('lim_tenant', group_rate_limit => 1, rate_interval => '1 hour');
SELECT count(*) FROM mq.send_batch('lim_tenant', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 3)),
	group_keys => ARRAY['a', 'b', 'c']);
SELECT count(*) FROM mq.read('lim_tenant', 100);
SELECT * FROM pg_temp.usage();
-- a drop that rolls back keeps the buckets; one that commits gives them back
SET ROLE regress_mq_hostile;
BEGIN;
SELECT mq.drop_queue('lim_hostile');
ROLLBACK;
SELECT * FROM pg_temp.usage() WHERE pool = 'rate buckets';
SELECT mq.drop_queue('lim_hostile');
SELECT * FROM pg_temp.usage() WHERE pool = 'rate buckets';
-- clearing group_rate_limit gives the groups' buckets back
SET ROLE regress_mq_tenant;
SELECT mq.alter_queue('lim_tenant', group_rate_limit => 0);
SELECT * FROM pg_temp.usage() WHERE pool = 'rate buckets';
SELECT mq.drop_queue('lim_tenant');

-- stream partitions: the owner's streams hold at most 6
SET ROLE regress_mq_hostile;
SELECT mq.create_stream('lim_s1', partitions => 4);
SELECT mq.create_stream('lim_s2', partitions => 4);
SELECT count(*) FROM generate_series(0, 3) p, mq.read_stream('lim_s1', p, 0);
SELECT count(*) FROM generate_series(0, 3) p, mq.read_stream('lim_s2', p, 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT (mq.append('lim_s2', '{}', key => 'k')).position;
SET ROLE regress_mq_tenant;
SELECT mq.create_stream('lim_t', partitions => 2);
SELECT (mq.append('lim_t', '{}', key => 'k')).position;
-- a stream whose creation rolls back gives its partitions back
BEGIN;
SELECT mq.create_stream('lim_gone', partitions => 4);
SELECT count(*) FROM generate_series(0, 3) p, mq.read_stream('lim_gone', p, 0);
SELECT * FROM pg_temp.usage() WHERE pool = 'stream partitions';
ROLLBACK;
SELECT * FROM pg_temp.usage() WHERE pool = 'stream partitions';
-- so does a committed drop
SET ROLE regress_mq_hostile;
SELECT mq.drop_stream('lim_s2');
SELECT * FROM pg_temp.usage() WHERE pool = 'stream partitions';
SELECT mq.drop_stream('lim_s1');

-- consumers: the polling role registers at most 3
SELECT mq.create_stream('lim_c', partitions => 1);
SELECT mq.create_consumer_group('lim_c', 'g1');
SELECT mq.create_consumer_group('lim_c', 'g2');
-- one registered by a poll that failed, or rolled back, is not kept
SELECT (SELECT count(*) FROM mq.poll('lim_c', 'g2', 'failed')) / 0;
BEGIN;
SELECT count(*) FROM mq.poll('lim_c', 'g2', 'rolled_back');
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM mq.poll('lim_c', 'g2', 'savepoint');
ROLLBACK TO s;
COMMIT;
SELECT * FROM pg_temp.usage() WHERE pool = 'stream consumers';
-- timed-out consumers of a group nobody polls leave when the share is full
SELECT count(*) FROM generate_series(1, 3) i,
	mq.poll('lim_c', 'g1', 'short' || i, session_timeout => '10 ms');
SELECT pg_sleep(0.05);
SELECT count(*) FROM generate_series(1, 3) i, mq.poll('lim_c', 'g2', 'c' || i);
SELECT count(*) FROM mq.poll('lim_c', 'g2', 'c4');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE regress_mq_tenant;
SELECT mq.create_consumer_group('lim_t', 'g');
SELECT count(*) FROM mq.poll('lim_t', 'g', 'tenant');
SELECT * FROM pg_temp.usage() WHERE pool = 'stream consumers';
-- a drop of a group in a rolled-back savepoint forgets nothing
SET ROLE regress_mq_hostile;
BEGIN;
SAVEPOINT s;
SELECT mq.drop_consumer_group('lim_c', 'g2');
ROLLBACK TO s;
COMMIT;
SELECT count(*) FROM mq.poll('lim_c', 'g2', 'c1');
SELECT * FROM pg_temp.usage() WHERE pool IN ('stream consumers', 'group partitions');
SELECT mq.drop_consumer_group('lim_c', 'g2');
SELECT * FROM pg_temp.usage() WHERE pool IN ('stream consumers', 'group partitions');

-- group partitions: the polling role brings in at most 4
SELECT mq.create_stream('lim_g', partitions => 3);
SELECT mq.create_consumer_group('lim_g', 'a');
SELECT mq.create_consumer_group('lim_g', 'b');
SELECT count(*) FROM mq.poll('lim_g', 'a', 'c1');
SELECT count(*) FROM mq.poll('lim_g', 'b', 'c1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- a group whose creation rolls back gives its partitions back
SELECT mq.drop_consumer_group('lim_g', 'a');
BEGIN;
SELECT mq.create_consumer_group('lim_g', 'c');
SELECT count(*) FROM mq.poll('lim_g', 'c', 'c1');
SELECT * FROM pg_temp.usage() WHERE pool = 'group partitions';
ROLLBACK;
SELECT * FROM pg_temp.usage() WHERE pool = 'group partitions';

-- everything goes with the streams
SELECT mq.drop_stream('lim_g');
SELECT mq.drop_stream('lim_c');
SET ROLE regress_mq_tenant;
SELECT mq.drop_stream('lim_t');
RESET ROLE;
SELECT * FROM pg_temp.usage();
DROP ROLE regress_mq_tenant;
DROP ROLE regress_mq_hostile;
