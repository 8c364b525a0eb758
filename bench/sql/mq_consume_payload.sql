SELECT msg_id, payload FROM mq.read('cpay', 1) \gset
SELECT mq.ack('cpay', :msg_id::bigint);
