SELECT msg_id FROM mq.read('gfair', 1) \gset
SELECT mq.ack('gfair', :msg_id::bigint);
