-- mq.compact_queue(): the messages come back exactly as they were (ids,
-- leases, receive counts, priorities, groups, dedup keys, headers), and the
-- dead row versions of leases and acks go with the old file
SELECT mq.create_queue('cq_a', dedup_window => '1 hour', fifo => true);
SELECT mq._queue_id('cq_a') AS qid \gset
SELECT count(*) FROM mq.send_batch('cq_a', ARRAY(SELECT jsonb_build_object('i', g) FROM generate_series(1, 2000) g));
SELECT mq.send('cq_a', '{"k": 1}', dedup_key => 'once', group_key => 'g1', headers => '{"h": 1}', priority => 5) AS dedup_id \gset
SELECT count(*) FROM mq.read('cq_a', 3, '1 hour');
-- consume most of it: 1,900 leases (updates) and acks (deletes)
DO $$
BEGIN
	FOR i IN 1..1900 LOOP
		PERFORM mq.ack('cq_a', m.msg_id) FROM mq.read('cq_a', 1, '1 minute') m;
	END LOOP;
END $$;
CREATE TABLE cq_before AS SELECT * FROM mq.q_:qid;
SELECT pg_relation_size('mq.q_' || :qid) AS size_before \gset
SELECT mq.compact_queue('cq_a');
-- the same rows, column for column
SELECT count(*) AS kept,
	   (SELECT count(*) FROM (SELECT * FROM cq_before EXCEPT SELECT * FROM mq.q_:qid) d) AS lost,
	   (SELECT count(*) FROM (SELECT * FROM mq.q_:qid EXCEPT SELECT * FROM cq_before) d) AS changed
FROM mq.q_:qid;
SELECT pg_relation_size('mq.q_' || :qid) < :size_before / 4 AS smaller;
-- the leased ones stay leased, receive counts and all
SELECT count(*) AS leased, min(read_ct) FROM mq.q_:qid WHERE vt > now() + interval '30 minutes';
-- the dedup key still answers with its message; new ids go on from the old
SELECT mq.send('cq_a', '{"k": 2}', dedup_key => 'once') = :dedup_id AS same_message;
SELECT mq.send('cq_a', '{"new": 1}') > :dedup_id AS next_id;
-- reads go on in delivery order (the priority 5 message was among the leased)
SELECT body FROM mq.read('cq_a', 1, '1 minute');
-- reads after a compaction find everything: drain the queue
SELECT count(*) FROM (SELECT mq.ack('cq_a', m.msg_id) FROM mq.read('cq_a', 1000, '1 minute') m) a;
SELECT mq.compact_queue('cq_a');
SELECT count(*) FROM mq.q_:qid;
-- in a transaction: a rollback takes the compaction back, rows and all
SELECT count(*) FROM mq.send_batch('cq_a', ARRAY['{}'::jsonb, '{}', '{}']);
BEGIN;
SELECT mq.compact_queue('cq_a');
DELETE FROM mq.q_:qid;
ROLLBACK;
SELECT count(*) FROM mq.q_:qid;
DROP TABLE cq_before;

-- errors
SELECT mq.compact_queue(NULL);
SELECT mq.compact_queue('cq_nope');
SELECT mq.compact_queue('bad name');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT mq.compact_queue('cq_a');
ROLLBACK;
-- another role needs manage
CREATE ROLE cq_reader;
SELECT mq.grant('cq_a', 'cq_reader', 'read');
SET ROLE cq_reader;
SELECT mq.compact_queue('cq_a');
RESET ROLE;
SELECT mq.grant('cq_a', 'cq_reader', 'manage');
SET ROLE cq_reader;
SELECT mq.compact_queue('cq_a');
RESET ROLE;
SELECT mq.revoke('cq_a', 'cq_reader', 'read');
SELECT mq.revoke('cq_a', 'cq_reader', 'manage');
DROP ROLE cq_reader;
-- a table with somebody else's trigger is not compacted (it would fire)
CREATE FUNCTION cq_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER audit AFTER INSERT ON mq.q_:qid FOR EACH ROW EXECUTE FUNCTION cq_noop();
SELECT mq.compact_queue('cq_a');
DROP TRIGGER audit ON mq.q_:qid;
DROP FUNCTION cq_noop();
SELECT mq.drop_queue('cq_a');
