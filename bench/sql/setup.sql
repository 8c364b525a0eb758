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

-- bytes payloads (issue 31): a 1 kB payload (fixed pseudo-random bytes, so
-- that nothing compresses it), sent to a queue of its own and inserted into
-- a raw table of the same shape; a queue of 1 kB payloads and one of JSON
-- bodies of the same stored size, read and acked alike
CREATE FUNCTION bench_payload() RETURNS bytea IMMUTABLE LANGUAGE sql
	AS $$ SELECT '\x3db202ba09d147ace083a61e2bfa92e62d0e599fdd4e2ffb1caa696f1d4f74c77e6385443330c83f50055fd6b6df0b8ba24cb3489759f8a18b8bf582195169d7b4277f32bd94b3c7ce2d6e4b38c9a27bccbd8f1edca0e448a7a02690b463da3e98504ba3a31035c7a6296aba0bf586a5e58917e1c618d77b1f7073746cf026527e555b8782c2b0be84aef160159eaad441ad769ceac650d5fc982bd80fd4658df59c46554f057baaeb4326fa42848330698384043ba8492060f35d48d5ddda4bd5ac93839dfd0eaa432316d61546a74b248175e83204ed15c1086c8af1bf9023d6c770b8358571573bce5dc9011762d1653bfd6b640003b39ca33ae19a27113310b45b019401767c1d1f98497182167ff834c4f82de117a6f9878c18965f9de98f2766bc500318288ef73b984d4cbd8a93aa023dffaf0e6ace78510c25e4b5f4f1c6c198e285e28da2cf6fe03bbb5a3ca2d11d1e5acde7ee0f3793e80e199f55ce85b01bf8d8072e8e29f83cf219408c554f93aeb3e0da4783a30d2a59a5d451690fa2b0bd0357c3a1a95a25f9903ec309d144e66589eb4edd063d4b646ce298d214eb1b708f1700f31d9d2d2f0706ee7dc56736a3df33ac8d7d081ebf01936764f0ae8dc97c62d5fd92ffd6105a34cd8857156b01aeebbd9b560415d32fd83899aa07f0b3f6947313bd6ebd9b85425e43ecf95ffb84dea8011388156dc046fb148d754d26e7c94892e6ba8c38c45adf3930a11a1587d8795f664c1c765f18c62f9cf31f0944127c63c59d670579402e9e3c86f7be08a934fa3e9af1ca8ee518029d2ee0883ab46b56549cade5ca8dc99384902e7caced27ac57e192686d18b02ef4c34d85ec4560b8f2c64bcfba05caefcd5b1117859855c9cfadc894cb9f7a078d7a89d890c314a8b700a0a3bc0d9b06ab85e97607a524bc21e3f1451c8094563985d133e3dff8f3da1b5743e15e186ee89e3cf9bac86fe698478448d6a247db940daae43f470713373242779928c4bc6e2f348eaf5bf6ceb6ab9e25bfff6fa12857c668c6ba21ecb51b25d245805bc7afacb84c2f7b220f5938a5de0f58e643218d2cedf11adb4d59277da7af19e53e6746c505642bc37a243f0d309f7a6f8b2f19305de5d39ac8f8bb0fdc9d26011f1dd5e355a60612ff54896e1ff676d5eadf568c0098bc839c52ca5db18b954a580ab99fd32246ee655fca6df42f4157988acc2a4d9a1d0bd18f7dfbd2bf1c61f8d59ee2323efa4cf5ce198410dc35bd7b884a7b2f3fbd6636ced13574596066612fd3cd27a3e323cb48e955bfa02e233bd7ece610a17facd9da90d79f572ef1223b26aa62968878402e83462e0c06b9d4ec3ff1baa835e3f5b5f82598e4220b4eb061fee216bf13bc1350228211922731aa02e4ff00e25dce7f19af72d1c0ea4fb3b5e9bd13cc2109d51d1b6612844f'::bytea $$;
SELECT mq.create_queue('bpq');
SELECT format('CREATE TABLE rawp (LIKE mq.q_%s INCLUDING ALL)', mq._queue_id('bpq')) \gexec
SELECT mq.create_queue('cpay', visibility_timeout => '1 hour');
SELECT mq.create_queue('cjson', visibility_timeout => '1 hour');
-- n * 10k messages each, into emptied tables: cpay gets the 1 kB payload,
-- cjson a JSON object whose stored size (pg_column_size) is the payload's
-- (a string of hex digits of the payload, not a compressible run)
CREATE FUNCTION bench_fill_sized(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	p bytea := bench_payload();
	len int := pg_column_size(p) - pg_column_size(jsonb_build_object('d', ''));
	j jsonb := jsonb_build_object('d', substr(encode(p, 'hex'), 1, len));
BEGIN
	IF pg_column_size(j) <> pg_column_size(p) THEN
		RAISE EXCEPTION 'JSON body of % bytes, payload of %', pg_column_size(j), pg_column_size(p);
	END IF;
	EXECUTE format('TRUNCATE mq.%I', 'q_' || mq._queue_id('cpay'));
	EXECUTE format('TRUNCATE mq.%I', 'q_' || mq._queue_id('cjson'));
	FOR i IN 1 .. n LOOP
		PERFORM count(*) FROM mq.send_batch('cpay',
			payloads => ARRAY(SELECT p FROM generate_series(1, 10000) g),
			content_types => ARRAY(SELECT 'application/x-protobuf' FROM generate_series(1, 10000) g));
		PERFORM count(*) FROM mq.send_batch('cjson', ARRAY(SELECT j FROM generate_series(1, 10000) g));
	END LOOP;
END $$;
