SELECT coalesce(array_agg(msg_id), '{}') AS ids FROM mq.read('cq', 100) \gset
SELECT count(*) FROM mq.ack_batch('cq', :ids::bigint[]);
