SELECT msg_id, body FROM mq.read('cjson', 1) \gset
SELECT mq.ack('cjson', :msg_id::bigint);
