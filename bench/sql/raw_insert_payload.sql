INSERT INTO rawp (enqueued_at, vt, payload, content_type, sent_by) VALUES (now(), now(), bench_payload(), 'application/x-protobuf', current_user) RETURNING msg_id;
