--
-- Intervals that no timestamp can hold (issue 30): every entry point that
-- takes one gives 22023 with its own message, never PostgreSQL's "timestamp
-- out of range" (22008), and a role without the privilege gets the
-- privilege error before any error about its arguments.
--
SELECT mq.create_queue('iv_q');
SELECT mq.create_exchange('iv_x', 'fanout');
SELECT mq.bind('iv_x', 'iv_q');
SELECT mq.create_stream('iv_s', partitions => 1);
SELECT mq.create_consumer_group('iv_s', 'iv_g');
SELECT mq.send('iv_q', '{}') AS msg_id \gset

-- the SQLSTATE and message of a call
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE call;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;

SELECT iv, pg_temp.try(format('SELECT mq.send(''iv_q'', ''{}'', delay => %L)', iv)) AS send,
	pg_temp.try(format('SELECT mq.publish(''iv_x'', '''', ''{}'', delay => %L)', iv)) AS publish
FROM unnest(ARRAY['-178000000 years', '178000000 years', '-101 years',
				  '5880000 years -2116800000 days', '1 day']) AS iv;

SELECT pg_temp.try('SELECT mq.send_batch(''iv_q'', ARRAY[''{}''::jsonb], delay => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.publish_batch(''iv_x'', ARRAY[''''], ARRAY[''{}''::jsonb], delay => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.read(''iv_q'', visibility_timeout => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.read(''iv_q'', visibility_timeout => ''1 month -40 days'')');
SELECT pg_temp.try('SELECT mq.read(''iv_q'', wait => ''-178000000 years'')');
SELECT pg_temp.try(format('SELECT mq.nack(''iv_q'', %s, delay => ''-178000000 years'')', :msg_id));
SELECT pg_temp.try(format('SELECT mq.set_vt(''iv_q'', %s, ''-178000000 years'')', :msg_id));
SELECT pg_temp.try('SELECT mq.poll(''iv_s'', ''iv_g'', ''c1'', wait => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.poll(''iv_s'', ''iv_g'', ''c1'', session_timeout => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.poll(''iv_s'', ''iv_g'', ''c1'', session_timeout => ''5880000 years -2116800000 days'')');

-- without the privilege: the privilege error, whatever the other arguments
CREATE ROLE regress_mq_iv_none;
GRANT USAGE ON SCHEMA mq TO regress_mq_iv_none;
SET ROLE regress_mq_iv_none;
SELECT pg_temp.try('SELECT mq.send(''iv_q'', ''{}'', delay => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.publish(''iv_x'', '''', ''{}'', delay => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.publish(''iv_x'', NULL, NULL, delay => ''-1 second'')');
SELECT pg_temp.try('SELECT mq.publish_batch(''iv_x'', ARRAY[''''], ARRAY[''{}''::jsonb], delay => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.poll(''iv_s'', ''iv_g'', ''c1'', wait => ''-178000000 years'')');
SELECT pg_temp.try('SELECT mq.poll(''iv_s'', ''iv_g'', ''c1'', max => 0, session_timeout => NULL)');
RESET ROLE;

SELECT mq.drop_queue('iv_q');
SELECT mq.drop_exchange('iv_x');
SELECT mq.drop_stream('iv_s');
REVOKE USAGE ON SCHEMA mq FROM regress_mq_iv_none;
DROP ROLE regress_mq_iv_none;
