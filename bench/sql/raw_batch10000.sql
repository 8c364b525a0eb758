INSERT INTO raw (enqueued_at, vt, body) SELECT now(), now(), jsonb_build_object('n', g) FROM generate_series(1, 10000) g;
