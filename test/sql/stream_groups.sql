-- Streams: consumer groups, poll, commit, seek (README, "Consumer groups").
\set SHOW_CONTEXT never

SELECT mq.create_stream('g_events', partitions => 4);
-- 20 records with keys, so their partitions are fixed (FNV-1a of the key)
SELECT count(*) FROM mq.append_batch('g_events',
	(SELECT array_agg(jsonb_build_object('i', i) ORDER BY i) FROM generate_series(1, 20) i),
	keys => (SELECT array_agg('k' || i ORDER BY i) FROM generate_series(1, 20) i));
SELECT partition, count(*) FROM generate_series(1, 20) i,
	LATERAL (SELECT mq.stream_partition('k' || i, 4) AS partition) p GROUP BY 1 ORDER BY 1;

-- groups: where they start, and their errors
SELECT mq.create_consumer_group('g_events', 'from_start', 'earliest');
SELECT mq.create_consumer_group('g_events', 'from_now');
SELECT mq.create_consumer_group('g_events', 'from_now', 'latest');	-- the same again: a no-op
SELECT mq.create_consumer_group('g_events', 'from_now', 'earliest');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_consumer_group('g_events', 'bad', 'yesterday-ish');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_consumer_group('g_events', 'bad', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_consumer_group('g_events', 'bad name');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_consumer_group('g_none', 'g');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- a timestamp: the first record appended at or after it (here: none, so the end)
SELECT mq.create_consumer_group('g_events', 'from_time', (now() + interval '1 hour')::text);
SELECT mq.create_consumer_group('g_events', 'from_past', '2000-01-01 00:00:00+00');
SELECT consumer_group, partition, committed_position, end_position, lag, consumer
FROM mq.consumer_groups WHERE stream = 'g_events' ORDER BY 1, 2;

-- one consumer holds every partition; records come once each to it
SELECT partition, position, key, body FROM mq.poll('g_events', 'from_start', 'c1', 3);
SELECT count(*), count(DISTINCT (partition, position)) FROM mq.poll('g_events', 'from_start', 'c1', 100);
SELECT count(*) FROM mq.poll('g_events', 'from_start', 'c1');
SELECT partition, consumer, held_until > now() AS live
FROM mq.consumer_groups WHERE consumer_group = 'from_start' ORDER BY partition;

-- a poll that rolls back gives its records again; so does a rolled-back savepoint
SELECT count(*) FROM mq.append_batch('g_events', ARRAY['{"i": 21}', '{"i": 22}']::jsonb[],
									 keys => ARRAY['k1', 'k1']);
BEGIN;
SELECT partition, position, body FROM mq.poll('g_events', 'from_start', 'c1');
ROLLBACK;
BEGIN;
SAVEPOINT a;
SELECT partition, position, body FROM mq.poll('g_events', 'from_start', 'c1', 1);
ROLLBACK TO a;
SELECT partition, position, body FROM mq.poll('g_events', 'from_start', 'c1');
COMMIT;
SELECT count(*) FROM mq.poll('g_events', 'from_start', 'c1');

-- commit: the next position to read, in the caller's transaction
SELECT mq.commit('g_events', 'from_start', 'c1', 0, 2);
BEGIN;
SELECT mq.commit('g_events', 'from_start', 'c1', 1, 3);
ROLLBACK;
SELECT partition, committed_position FROM mq.consumer_groups
WHERE consumer_group = 'from_start' ORDER BY partition;
-- never back: a lower position changes nothing
SELECT mq.commit('g_events', 'from_start', 'c1', 0, 1);
SELECT committed_position FROM mq.consumer_groups
WHERE consumer_group = 'from_start' AND partition = 0;
-- fencing: only what was delivered, only by the holder
SELECT mq.commit('g_events', 'from_start', 'c1', 0, 100);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.commit('g_events', 'from_start', 'c9', 0, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.commit('g_events', 'from_start', 'c1', 4, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.commit('g_events', 'from_start', 'c1', 0, -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- a second consumer joins: two partitions each; the new holder of a
-- partition starts at its committed position
SELECT partition, position, body FROM mq.poll('g_events', 'from_start', 'c2');
SELECT partition, consumer FROM mq.consumer_groups
WHERE consumer_group = 'from_start' ORDER BY partition;
-- c1 lost partitions 2 and 3: its commits there fail
SELECT mq.commit('g_events', 'from_start', 'c1', 2, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.poll('g_events', 'from_start', 'c1');
-- a third joins with a short session: 2, 1, 1; when it stops polling its
-- partition goes back to the others
SELECT count(*) >= 0 AS polled FROM mq.poll('g_events', 'from_start', 'c3', session_timeout => '100 ms');
SELECT consumer, count(*) FROM mq.consumer_groups
WHERE consumer_group = 'from_start' GROUP BY consumer ORDER BY consumer;
SELECT pg_sleep(0.5);
SELECT mq.commit('g_events', 'from_start', 'c3', 3, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) >= 0 AS polled FROM mq.poll('g_events', 'from_start', 'c1');
SELECT consumer, count(*) FROM mq.consumer_groups
WHERE consumer_group = 'from_start' GROUP BY consumer ORDER BY consumer;

-- seek: to a position, an end, a time; the holder starts again from there
SELECT mq.seek('g_events', 'from_now', 0, 1);
SELECT mq.seek('g_events', 'from_now', partition => 1, to_end => 'earliest');
SELECT mq.seek('g_events', 'from_now', at => '2000-01-01');
SELECT partition, committed_position FROM mq.consumer_groups
WHERE consumer_group = 'from_now' ORDER BY partition;
SELECT mq.seek('g_events', 'from_now', to_end => 'latest');
SELECT partition, committed_position = end_position AS at_end FROM mq.consumer_groups
WHERE consumer_group = 'from_now' ORDER BY partition;
SELECT count(*) FROM mq.poll('g_events', 'from_start', 'c1');
SELECT mq.seek('g_events', 'from_start', 0, 0);
-- c1 was given records of partition 0; after the seek it must poll again
SELECT mq.commit('g_events', 'from_start', 'c1', 0, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT partition, position FROM mq.poll('g_events', 'from_start', 'c1', 2);
SELECT mq.commit('g_events', 'from_start', 'c1', 0, 1);
SELECT committed_position FROM mq.consumer_groups
WHERE consumer_group = 'from_start' AND partition = 0;
-- seek's errors
SELECT mq.seek('g_events', 'from_now');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.seek('g_events', 'from_now', 0, 1, to_end => 'latest');
SELECT mq.seek('g_events', 'from_now', to_end => 'middle');
SELECT mq.seek('g_events', 'from_now', 0, -1);
SELECT mq.seek('g_events', 'from_now', 0, 1000);
SELECT mq.seek('g_events', 'from_now', 7, 0);
SELECT mq.seek('g_events', 'nobody', 0, 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- poll's errors
SELECT * FROM mq.poll('g_events', 'nobody', 'c1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.poll('g_events', 'from_start', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.poll('g_events', 'from_start', repeat('x', 129));
SELECT * FROM mq.poll('g_events', 'from_start', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.poll('g_events', NULL, 'c1');
SELECT * FROM mq.poll('g_events', 'from_start', 'c1', 0);
SELECT * FROM mq.poll('g_events', 'from_start', 'c1', wait => '-1 s');
SELECT * FROM mq.poll('g_events', 'from_start', 'c1', wait => '1 day');
SELECT * FROM mq.poll('g_events', 'from_start', 'c1', session_timeout => '0');
SELECT * FROM mq.poll('g_events', 'from_start', 'c1', session_timeout => '2 days');
SELECT * FROM mq.poll('g_events', 'from_start', 'c1', session_timeout => NULL);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM mq.poll('g_events', 'from_start', 'c1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT mq.commit('g_events', 'from_start', 'c1', NULL, 1);
SELECT mq.commit('g_events', 'nobody', 'c1', 0, 1);

-- a wait that nothing ends returns nothing when it is over
SELECT count(*) FROM mq.poll('g_events', 'from_now', 'w', wait => '200 ms');

-- a partition added later starts at 0 and is assigned
SELECT mq.alter_stream('g_events', partitions => 5);
SELECT * FROM mq.append('g_events', '{"new": true}', key => (
	SELECT 'k' || i FROM generate_series(1, 1000) i
	WHERE mq.stream_partition('k' || i, 5) = 4 LIMIT 1));
SELECT partition, position, body FROM mq.poll('g_events', 'from_now', 'w') WHERE partition = 4;
SELECT partition, committed_position, end_position, consumer FROM mq.consumer_groups
WHERE consumer_group = 'from_now' AND partition = 4;

-- stream_end and partition_holder
SELECT mq.stream_end('g_events', 4), mq.stream_end('g_events', 0);
SELECT mq.stream_end('g_events', 9);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT consumer FROM mq.partition_holder('g_events', 'from_now', 4);
-- the Prometheus text: partitions' ends, groups' committed positions and lag
SELECT line FROM regexp_split_to_table(mq.metrics_prometheus(), E'\n') AS line
WHERE line ~ '^(# TYPE )?mq_stream' AND line !~ 'from_(past|time)';

-- only the stream's owner (and superusers) use its groups
CREATE ROLE g_owner;
CREATE ROLE g_other;
GRANT CREATE ON SCHEMA mq TO g_owner;
SET ROLE g_owner;
SELECT mq.create_stream('g_owned');
SELECT mq.create_consumer_group('g_owned', 'mine', 'earliest');
SELECT * FROM mq.append('g_owned', '{"a": 1}', key => 'x');
SELECT partition, position, body FROM mq.poll('g_owned', 'mine', 'o1');
SET ROLE g_other;
SELECT * FROM mq.poll('g_owned', 'mine', 'o2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.commit('g_owned', 'mine', 'o1', 0, 1);
SELECT mq.create_consumer_group('g_owned', 'theirs');
SELECT mq.seek('g_owned', 'mine', to_end => 'earliest');
SELECT mq.drop_consumer_group('g_owned', 'mine');
-- the view shows every group, as mq.streams shows every stream
SELECT stream, consumer_group, committed_position, end_position, consumer
FROM mq.consumer_groups WHERE stream = 'g_owned';
-- grants: send appends; read replays, polls, commits, makes groups and seeks;
-- manage drops groups and grants (mq.grant takes a stream's name)
SELECT mq.grant('g_owned', 'g_other', 'send');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE g_owner;
SELECT mq.grant('g_owned', 'g_other', 'publish');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.grant('g_owned', 'g_other', 'send');
SELECT object_type, object_name, grantee, privilege FROM mq.privileges WHERE object_name = 'g_owned';
SET ROLE g_other;
SELECT * FROM mq.append('g_owned', '{"a": 2}', key => 'x');
SELECT count(*) FROM mq.read_stream('g_owned', 0, 0);
SET ROLE g_owner;
SELECT mq.grant('g_owned', 'g_other', 'read');
SET ROLE g_other;
SELECT count(*) FROM mq.read_stream('g_owned', 0, 0);
SELECT mq.create_consumer_group('g_owned', 'theirs', 'earliest');
SELECT partition, position, body FROM mq.poll('g_owned', 'theirs', 't1');
SELECT mq.commit('g_owned', 'theirs', 't1', 0, 2);
SELECT mq.seek('g_owned', 'theirs', 0, 1);
SELECT mq.drop_consumer_group('g_owned', 'theirs');
SELECT mq.alter_stream('g_owned', partitions => 2);
SET ROLE g_owner;
SELECT mq.revoke('g_owned', 'g_other', 'all');
SET ROLE g_other;
SELECT * FROM mq.poll('g_owned', 'theirs', 't1');
RESET ROLE;
SELECT count(*) FROM mq.privileges WHERE object_name = 'g_owned';
-- the owner of a stream cannot be dropped; REASSIGN OWNED and DROP OWNED
-- deal with its streams
DROP ROLE g_owner;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.grant('g_owned', 'g_other', 'read');
DROP ROLE g_other;
REASSIGN OWNED BY g_owner TO g_other;
SELECT stream, owner FROM mq.streams WHERE stream = 'g_owned';
DROP OWNED BY g_other;
SELECT count(*) FROM mq.streams WHERE stream = 'g_owned';
SELECT count(*) FROM mq.privileges WHERE object_name = 'g_owned';
REVOKE CREATE ON SCHEMA mq FROM g_owner;
DROP ROLE g_owner, g_other;

-- change data capture: mq.append_trigger(stream [, key column]) appends each
-- changed row in the changing transaction, keyed by the column
SELECT mq.create_stream('g_cdc', partitions => 2);
SELECT mq.create_consumer_group('g_cdc', 'audit', 'earliest');
CREATE TABLE g_accounts (id int PRIMARY KEY, owner text, balance int);
CREATE TRIGGER g_accounts_cdc AFTER INSERT OR UPDATE OR DELETE ON g_accounts
	FOR EACH ROW EXECUTE FUNCTION mq.append_trigger('g_cdc', 'owner');
INSERT INTO g_accounts VALUES (1, 'ann', 10), (2, 'bob', 20);
UPDATE g_accounts SET balance = 15 WHERE id = 1;
BEGIN;
DELETE FROM g_accounts WHERE id = 2;
ROLLBACK;
DELETE FROM g_accounts WHERE id = 2;
SELECT partition = mq.stream_partition(key, 2) AS keyed, key, body->>'op' AS op,
	   body->'new' AS new, body->'old' AS old, headers ? 'txid' AS has_txid
FROM mq.poll('g_cdc', 'audit', 'a1') ORDER BY key, position;
-- its errors: no stream name, an unknown column or option, a missing stream
CREATE TABLE g_bad (a int);
CREATE TRIGGER g_bad1 AFTER INSERT ON g_bad FOR EACH ROW EXECUTE FUNCTION mq.append_trigger();
INSERT INTO g_bad VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER g_bad1 ON g_bad;
CREATE TRIGGER g_bad2 AFTER INSERT ON g_bad FOR EACH ROW EXECUTE FUNCTION mq.append_trigger('g_cdc', 'nope');
INSERT INTO g_bad VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER g_bad2 ON g_bad;
CREATE TRIGGER g_bad3 AFTER INSERT ON g_bad FOR EACH ROW EXECUTE FUNCTION mq.append_trigger('g_cdc', 'a', 'dedup_key=a');
INSERT INTO g_bad VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER g_bad3 ON g_bad;
CREATE TRIGGER g_bad4 AFTER INSERT ON g_bad FOR EACH ROW EXECUTE FUNCTION mq.append_trigger('g_nowhere');
INSERT INTO g_bad VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE g_bad, g_accounts;
SELECT mq.drop_stream('g_cdc');

-- a stream as the destination of a binding: a published message becomes a
-- record keyed by its group_key, with the exchange's headers
SELECT mq.create_stream('g_feed', partitions => 2);
SELECT mq.create_consumer_group('g_feed', 'all', 'earliest');
SELECT mq.create_queue('g_copy');
SELECT mq.create_exchange('g_events', 'topic');
SELECT mq.bind('g_events', 'g_feed', 'orders.#');
SELECT mq.bind('g_events', 'g_feed', 'orders.#');	-- there already
SELECT mq.bind('g_events', 'g_copy', 'orders.eu.*');
SELECT source, destination, destination_type, binding_key FROM mq.bindings
WHERE source = 'g_events' ORDER BY destination;
SELECT mq.publish('g_events', 'orders.eu.created', '{"id": 1}', group_key => 'cust-1');
SELECT mq.publish('g_events', 'orders.us.created', '{"id": 2}', mandatory => true);
SELECT mq.publish('g_events', 'users.created', '{"id": 3}');
SELECT * FROM mq.publish_batch('g_events', ARRAY['orders.us.paid', 'orders.eu.paid'],
	ARRAY['{"id": 4}', '{"id": 5}']::jsonb[], group_keys => ARRAY['cust-2', 'cust-2']);
SELECT key, body, headers->>'x-routing-key' AS routing_key,
	   partition = coalesce(mq.stream_partition(key, 2), partition) AS keyed
FROM mq.poll('g_feed', 'all', 'c1') ORDER BY body->>'id';
SELECT body FROM mq.read('g_copy');
SELECT mq.unbind('g_events', 'g_feed', 'orders.#');
SELECT mq.publish('g_events', 'orders.us.created', '{"id": 6}');
-- dropping the stream drops its bindings
SELECT mq.bind('g_events', 'g_feed', 'x');
SELECT mq.drop_stream('g_feed');
SELECT count(*) FROM mq.bindings WHERE destination = 'g_feed';
SELECT mq.drop_exchange('g_events', cascade => true);
SELECT mq.drop_queue('g_copy');

-- a transaction that polled records cannot be prepared (a later rollback
-- would not give them again)
SELECT count(*) FROM mq.append('g_events', '{"prep": 1}', key => 'k1');
BEGIN;
SELECT count(*) FROM mq.poll('g_events', 'from_start', 'c1');
PREPARE TRANSACTION 'g_prep';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.poll('g_events', 'from_start', 'c1');

-- drop: a group, then the stream with the rest
SELECT mq.drop_consumer_group('g_events', 'from_time');
SELECT mq.drop_consumer_group('g_events', 'from_time');
SELECT count(*) FROM mq._stream_commit c
WHERE NOT EXISTS (SELECT 1 FROM mq._stream_group g WHERE g.group_id = c.group_id);
SELECT mq.drop_stream('g_events');
SELECT count(*) FROM mq.consumer_groups;
SELECT count(*) FROM mq._stream_group;
SELECT count(*) FROM mq._stream_commit;
