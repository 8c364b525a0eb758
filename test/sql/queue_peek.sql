-- mq.peek(): a queue's messages with their state, without a lease: nothing
-- changes (read counts, leases, the order the next read gets); paging by
-- after_id; the read privilege; bad arguments.
\set SHOW_CONTEXT never

SELECT mq.create_queue('pk_q');
SELECT mq.send('pk_q', '{"n": 1}');
SELECT mq.send('pk_q', '{"n": 2}', priority => 5);
SELECT mq.send('pk_q', '{"n": 3}', delay => '1 hour');
SELECT mq.send('pk_q', payload => '\x00ff'::bytea, content_type => 'application/octet-stream',
			   headers => '{"h": "v"}');
-- one leased
SELECT msg_id, body FROM mq.read('pk_q', 1, visibility_timeout => '10 minutes');

-- delivery order (priority, then msg_id), every state, no lease taken
SELECT msg_id, state, read_ct, priority, body, payload, headers FROM mq.peek('pk_q');
SELECT msg_id, state, read_ct FROM mq.peek('pk_q');
-- so the next read gets what it would have got: message 1, then 4
SELECT msg_id, read_ct FROM mq.read('pk_q', 2, visibility_timeout => '10 minutes') ORDER BY msg_id;
SELECT visible, in_flight, delayed FROM mq.metrics('pk_q');

-- paging: after_id gives the messages after it in msg_id order, qty of them
SELECT msg_id FROM mq.peek('pk_q', qty => 2, after_id => 1);
SELECT msg_id FROM mq.peek('pk_q', 10, 4);

-- an expired message not yet removed says so
SELECT mq.send('pk_q', '{"n": 5}', ttl => '1 millisecond') AS expiring \gset
SELECT pg_sleep(0.05);
SELECT state FROM mq.peek('pk_q', 1, :expiring - 1);

-- in a read-only transaction (a standby's, too)
BEGIN TRANSACTION READ ONLY;
SELECT count(*) FROM mq.peek('pk_q');
COMMIT;

-- errors
SELECT * FROM mq.peek('pk_none');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.peek(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.peek('pk_q', 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.peek('pk_q', 10001);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mq.peek('pk_q', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- the read privilege: without it refused, with it allowed; the tables
-- themselves stay closed
CREATE ROLE regress_pk_reader;
CREATE ROLE regress_pk_sender;
SELECT mq.grant('pk_q', 'regress_pk_reader', 'read');
SELECT mq.grant('pk_q', 'regress_pk_sender', 'send');
SELECT 'mq.q_' || mq._queue_id('pk_q') AS pk_table \gset
SET ROLE regress_pk_sender;
SELECT * FROM mq.peek('pk_q');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE regress_pk_reader;
SELECT count(*) FROM mq.peek('pk_q');
SELECT has_table_privilege(:'pk_table', 'SELECT') AS table_readable;
SELECT * FROM mq._peek('pk_q');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

SELECT mq.drop_queue('pk_q');
DROP ROLE regress_pk_reader;
DROP ROLE regress_pk_sender;
