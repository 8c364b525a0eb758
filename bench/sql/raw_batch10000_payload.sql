INSERT INTO rawp (enqueued_at, vt, payload, content_type, sent_by) SELECT now(), now(), int8send(g), 'application/octet-stream', current_user FROM generate_series(1::bigint, 10000) g;
