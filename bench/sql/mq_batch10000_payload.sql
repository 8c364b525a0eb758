SELECT count(*) FROM mq.send_batch('bpq', payloads => ARRAY(SELECT int8send(g) FROM generate_series(1::bigint, 10000) g));
