SELECT msg_id FROM mq.read('gplain', 1) \gset
SELECT mq.ack('gplain', :msg_id::bigint);
