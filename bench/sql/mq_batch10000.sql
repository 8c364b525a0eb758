SELECT count(*) FROM mq.send_batch('bq', ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, 10000) g));
