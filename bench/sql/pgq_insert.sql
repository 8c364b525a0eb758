SELECT pgq.insert_event('pq', 'order', '{"order": 42, "item": "book", "qty": 1}');
