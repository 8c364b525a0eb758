-- queues and the raw tables they are measured against: the same columns
-- and indexes as an mq queue table (CREATE TABLE ... LIKE ... INCLUDING ALL)
SELECT mq.create_queue('bq');
SELECT mq.create_queue('cq', visibility_timeout => '1 hour');
SELECT mq.create_queue('lat');
SELECT format('CREATE TABLE raw (LIKE mq.q_%s INCLUDING ALL)', mq._queue_id('bq')) \gexec
SELECT format('CREATE TABLE rawc (LIKE mq.q_%s INCLUDING ALL)', mq._queue_id('cq')) \gexec

-- refill the consumer queues: n * 10k messages each, into emptied tables
-- (TRUNCATE, so that neither side starts with dead rows and refills are quick)
CREATE FUNCTION bench_fill(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('TRUNCATE mq.%I', 'q_' || mq._queue_id('cq'));
	FOR i IN 1 .. n LOOP
		PERFORM count(*) FROM mq.send_batch('cq', ARRAY(SELECT jsonb_build_object('n', g)
			FROM generate_series(1, 10000) g));
	END LOOP;
	TRUNCATE rawc;
	INSERT INTO rawc (enqueued_at, vt, body)
		SELECT now(), now(), jsonb_build_object('n', g) FROM generate_series(1, n * 10000) g;
END $$;

-- topic exchanges: 10 and 1,000 bindings, one of which the key matches
SELECT mq.create_queue('t' || i) FROM generate_series(0, 9) i;
SELECT mq.create_exchange('topic10', 'topic'), mq.create_exchange('topic1000', 'topic');
SELECT mq.bind('topic10', 't' || (i % 10), 'k.' || i || '.*') FROM generate_series(1, 10) i;
SELECT mq.bind('topic1000', 't' || (i % 10), 'k.' || i || '.*') FROM generate_series(1, 1000) i;

-- PgQ, the peer
SELECT pgq.create_queue('pq');

-- fairness and limits: 10,000 groups; a fair queue, one with
-- group_concurrency, one rate-limited far above what is read, and a plain
-- queue with the same messages to compare them with
SELECT mq.create_queue('gplain', visibility_timeout => '1 hour');
SELECT mq.create_queue('gfair', visibility_timeout => '1 hour', fair => true);
SELECT mq.create_queue('gconc', visibility_timeout => '1 hour', group_concurrency => 4);
SELECT mq.create_queue('grate', visibility_timeout => '1 hour', rate_limit => 10000000);
CREATE FUNCTION bench_fill_groups(q text, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('TRUNCATE mq.%I', 'q_' || mq._queue_id(q));
	FOR i IN 1 .. n LOOP
		PERFORM count(*) FROM mq.send_batch(q, ARRAY(SELECT jsonb_build_object('n', g)
			FROM generate_series(1, 10000) g),
			group_keys => ARRAY(SELECT 'tenant-' || g FROM generate_series(1, 10000) g));
	END LOOP;
END $$;

-- streams (part one): appends to a stream of 4 partitions
SELECT mq.create_stream('bstream', partitions => 4);
