WITH c AS (SELECT msg_id FROM rawc WHERE vt <= clock_timestamp()
		   ORDER BY priority DESC, msg_id LIMIT 100 FOR UPDATE SKIP LOCKED),
	 u AS (UPDATE rawc r SET vt = clock_timestamp() + interval '1 hour', read_ct = r.read_ct + 1
		   FROM c WHERE r.msg_id = c.msg_id RETURNING r.msg_id)
SELECT coalesce(array_agg(msg_id), '{}') AS ids FROM u \gset
DELETE FROM rawc WHERE msg_id = ANY (:ids::bigint[]);
