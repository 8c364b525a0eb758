SELECT mq.publish('topic10', 'k.5.x', '{"order": 42}');
