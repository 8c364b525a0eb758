SELECT mq.send('bq', '{"order": 42, "item": "book", "qty": 1}');
