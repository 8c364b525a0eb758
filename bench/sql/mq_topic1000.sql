SELECT mq.publish('topic1000', 'k.5.x', '{"order": 42}');
