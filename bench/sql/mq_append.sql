SELECT * FROM mq.append('bstream', '{"order": 42, "item": "book", "qty": 1}', key => 'customer-' || (random() * 1000)::int);
