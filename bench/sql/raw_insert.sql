INSERT INTO raw (enqueued_at, vt, body) VALUES (now(), now(), '{"order": 42, "item": "book", "qty": 1}') RETURNING msg_id;
