SELECT mq.send('bpq', payload => bench_payload(), content_type => 'application/x-protobuf');
