SELECT msg_id FROM mq.read('grate', 1) \gset
SELECT mq.ack('grate', :msg_id::bigint);
