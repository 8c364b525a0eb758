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

-- stream consumption against PgQ's batch cycle: each client is a consumer
-- group of its own on a stream (mq) and a consumer of its own on a queue
-- (PgQ), reading in batches of 100 from 1,500,000 records (mq) and 600,000
-- events (PgQ, which is slower): enough that no client runs dry in a run
-- (bench/run.sh checks); before each run pair every group and every PgQ
-- consumer goes back to the start
SELECT mq.create_stream('bcons', partitions => 4);
SELECT count(*) FROM generate_series(1, 150) b,
	LATERAL (SELECT count(*) FROM mq.append_batch('bcons',
		ARRAY(SELECT jsonb_build_object('order', b * 10000 + i, 'item', 'book', 'qty', 1)
			  FROM generate_series(1, 10000) i),
		keys => ARRAY(SELECT 'customer-' || i FROM generate_series(1, 10000) i))) a;
SELECT mq.create_consumer_group('bcons', 'bg' || c, 'earliest') FROM generate_series(0, 15) c;
SELECT pgq.create_queue('pc');
SELECT pgq.set_queue_config('pc', 'ticker_max_count', '100');
SELECT pgq.register_consumer('pc', 'pc' || c) FROM generate_series(0, 15) c;
CREATE PROCEDURE bench_fill_pgq(batches int) LANGUAGE plpgsql AS $$
BEGIN
	FOR b IN 1 .. batches LOOP
		PERFORM pgq.insert_event('pc', 'order',
			jsonb_build_object('order', b * 100 + i, 'item', 'book', 'qty', 1)::text)
		FROM generate_series(1, 100) i;
		COMMIT;
		PERFORM pgq.ticker('pc');
		COMMIT;
	END LOOP;
END $$;
CREATE TABLE bench_pgq_start (tick_id bigint);
INSERT INTO bench_pgq_start SELECT max(t.tick_id) FROM pgq.tick t JOIN pgq.queue q
	ON q.queue_id = t.tick_queue WHERE q.queue_name = 'pc';
CALL bench_fill_pgq(6000);
CREATE PROCEDURE bench_rewind_consumers() LANGUAGE plpgsql AS $$
BEGIN
	PERFORM mq.seek('bcons', 'bg' || c, to_end => 'earliest') FROM generate_series(0, 15) c;
	PERFORM pgq.register_consumer_at('pc', 'pc' || c, (SELECT tick_id FROM bench_pgq_start))
	FROM generate_series(0, 15) c;
END $$;
