INSERT INTO rawc (enqueued_at, vt, body) VALUES (clock_timestamp(), clock_timestamp(), '{"n": 1}');
UPDATE rawc SET vt = clock_timestamp() + interval '1 hour', read_ct = read_ct + 1
WHERE msg_id = (SELECT msg_id FROM rawc WHERE vt <= clock_timestamp()
				ORDER BY priority DESC, msg_id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING msg_id \gset
DELETE FROM rawc WHERE msg_id = :msg_id::bigint;
