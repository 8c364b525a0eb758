SELECT msg_id FROM mq.read('gconc', 1) \gset
SELECT mq.ack('gconc', :msg_id::bigint);
