SELECT count(*) FROM mq.append_batch('bstream', ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, 10000) g));
