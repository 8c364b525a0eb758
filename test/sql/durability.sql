-- Durability per queue and per stream: 'local' or 'replicated' with
-- min_replicas.  This server has no standby, so every replicated send is
-- refused at once (53000), and a refused send leaves nothing behind.
\set SHOW_CONTEXT never

-- options: durability is 'local' (the default) or 'replicated'; min_replicas
-- only with 'replicated', where it defaults to 1
SELECT mq.create_queue('dur_local');
SELECT mq.create_queue('dur_repl', durability => 'replicated');
SELECT mq.create_queue('dur_repl2', durability => 'replicated', min_replicas => 2);
SELECT queue_name, durability, min_replicas FROM mq.queues
WHERE queue_name LIKE 'dur\_%' ORDER BY queue_name;

-- every invalid option: 22023 with a hint
SELECT mq.create_queue('dur_bad', durability => 'quorum');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue('dur_bad', durability => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue('dur_bad', min_replicas => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue('dur_bad', durability => 'local', min_replicas => 2);
SELECT mq.create_queue('dur_bad', durability => 'replicated', min_replicas => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_queue('dur_bad', durability => 'replicated', min_replicas => -1);
SELECT mq.create_queue('dur_bad', durability => 'replicated', unlogged => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS made FROM mq.queues WHERE queue_name = 'dur_bad';

-- declaring again: the same options are a no-op, others an error naming them
SELECT mq.create_queue('dur_repl', durability => 'replicated', min_replicas => 1);
SELECT mq.create_queue('dur_repl', durability => 'replicated', min_replicas => 3);
SELECT mq.create_queue('dur_repl');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- alter between modes: NULL keeps, 'local' forgets min_replicas
SELECT mq.alter_queue('dur_local', durability => 'replicated');
SELECT durability, min_replicas FROM mq.queues WHERE queue_name = 'dur_local';
SELECT mq.alter_queue('dur_local', min_replicas => 2);
SELECT durability, min_replicas FROM mq.queues WHERE queue_name = 'dur_local';
SELECT mq.alter_queue('dur_local', max_length => 10);
SELECT durability, min_replicas FROM mq.queues WHERE queue_name = 'dur_local';
SELECT mq.alter_queue('dur_local', durability => 'local');
SELECT durability, min_replicas FROM mq.queues WHERE queue_name = 'dur_local';
SELECT mq.alter_queue('dur_local', min_replicas => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.alter_queue('dur_local', durability => 'replicated', min_replicas => 0);
SELECT mq.alter_queue('dur_local', durability => 'bogus');
SELECT mq.alter_queue('dur_local', unlogged => true);
SELECT mq.alter_queue('dur_local', durability => 'replicated');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.alter_queue('dur_local', unlogged => false);
SELECT unlogged, durability, min_replicas FROM mq.queues WHERE queue_name = 'dur_local';

-- positional calls keep their meaning: the new options come last
SELECT mq.create_queue('dur_pos', '10 seconds', 5);
SELECT visibility_timeout, max_receives, durability, min_replicas
FROM mq.queues WHERE queue_name = 'dur_pos';

-- a local queue's send works without a standby
SELECT mq.send('dur_pos', '{"n": 1}') > 0 AS sent;

-- no synchronous standby streams here: a replicated send is refused at once
SELECT mq.send('dur_repl', '{"n": 1}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send('dur_repl2', '{"n": 1}');
SELECT mq.send('dur_repl', '{"n": 1}', dedup_key => 'k');
SELECT mq.send_batch('dur_repl', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.send_batch('dur_repl', ARRAY['{"n": 1}']::jsonb[], dedup_keys => ARRAY['k']);

-- ... and leaves nothing: not in the queue, and not the transaction's other sends
BEGIN;
SELECT mq.send('dur_pos', '{"n": 2}') > 0 AS sent;
SELECT mq.send('dur_repl', '{"n": 2}');
COMMIT;
SELECT (SELECT queue_length FROM mq.metrics('dur_repl')) AS replicated_length,
	   (SELECT queue_length FROM mq.metrics('dur_pos')) AS local_length;

-- a savepoint keeps the rest of the transaction
BEGIN;
SELECT mq.send('dur_pos', '{"n": 3}') > 0 AS sent;
SAVEPOINT s;
SELECT mq.send('dur_repl', '{"n": 3}');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT (SELECT queue_length FROM mq.metrics('dur_repl')) AS replicated_length,
	   (SELECT queue_length FROM mq.metrics('dur_pos')) AS local_length;

-- made local again, the queue takes sends
SELECT mq.alter_queue('dur_repl', durability => 'local');
SELECT mq.send('dur_repl', '{"n": 4}') > 0 AS sent;
SELECT mq.alter_queue('dur_repl', durability => 'replicated');

-- exchanges: a publish that reaches a replicated queue is such a send
SELECT mq.create_exchange('dur_x', 'fanout');
SELECT mq.bind('dur_x', 'dur_pos');
SELECT mq.publish('dur_x', 'k', '{"n": 5}');
SELECT mq.bind('dur_x', 'dur_repl');
SELECT mq.publish('dur_x', 'k', '{"n": 6}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT (SELECT queue_length FROM mq.metrics('dur_repl')) AS replicated_length,
	   (SELECT queue_length FROM mq.metrics('dur_pos')) AS local_length;

-- triggers send too
CREATE TABLE dur_t (id int);
CREATE TRIGGER dur_t_send AFTER INSERT ON dur_t
	FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('dur_repl');
INSERT INTO dur_t VALUES (1);
SELECT count(*) AS rows FROM dur_t;
DROP TABLE dur_t;

-- streams: the same options and the same refusal
SELECT mq.create_stream('dur_s');
SELECT mq.create_stream('dur_rs', 2, durability => 'replicated');
SELECT mq.create_stream('dur_rs2', durability => 'replicated', min_replicas => 2);
SELECT stream, durability, min_replicas FROM mq.streams
WHERE stream LIKE 'dur\_%' ORDER BY stream;
SELECT mq.create_stream('dur_bad', durability => 'sync');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.create_stream('dur_bad', min_replicas => 1);
SELECT mq.create_stream('dur_bad', durability => 'replicated', min_replicas => 0);
SELECT mq.create_stream('dur_bad', durability => 'replicated', unlogged => true);
SELECT mq.create_stream('dur_rs', 2, durability => 'replicated', min_replicas => 1);
SELECT mq.create_stream('dur_rs', 2);
SELECT mq.alter_stream('dur_s', durability => 'replicated', min_replicas => 3);
SELECT durability, min_replicas FROM mq.streams WHERE stream = 'dur_s';
SELECT mq.alter_stream('dur_s', durability => 'local');
SELECT durability, min_replicas FROM mq.streams WHERE stream = 'dur_s';
SELECT mq.alter_stream('dur_s', min_replicas => 1);
SELECT mq.alter_stream('dur_s', retention => '1 day');
SELECT retention, durability, min_replicas FROM mq.streams WHERE stream = 'dur_s';

SELECT (mq.append('dur_s', '{"n": 1}')).position;
SELECT mq.append('dur_rs', '{"n": 1}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append('dur_rs2', '{"n": 1}', 'key');
SELECT mq.append_batch('dur_rs', ARRAY['{"n": 1}']::jsonb[]);
SELECT mq.bind('dur_x', 'dur_rs');
SELECT mq.unbind('dur_x', 'dur_repl');
SELECT mq.publish('dur_x', 'k', '{"n": 7}');
SELECT count(*) AS records FROM mq.read_stream('dur_rs', 0, 0)
	UNION ALL SELECT count(*) FROM mq.read_stream('dur_rs', 1, 0);

-- clean up
SELECT mq.drop_exchange('dur_x', cascade => true);
SELECT mq.drop_queue(q) FROM unnest(ARRAY['dur_local', 'dur_repl', 'dur_repl2', 'dur_pos']) q;
SELECT mq.drop_stream(s) FROM unnest(ARRAY['dur_s', 'dur_rs', 'dur_rs2']) s;
