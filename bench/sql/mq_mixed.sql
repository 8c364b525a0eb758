SELECT mq.send('cq', '{"n": 1}');
SELECT msg_id FROM mq.read('cq', 1) \gset
SELECT mq.ack('cq', :msg_id::bigint);
