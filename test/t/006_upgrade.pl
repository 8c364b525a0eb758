# ALTER EXTENSION mq UPDATE: a database made with 0.1.0, 0.2.0, 0.3.0, 0.4.0, 0.5.0 or 0.6.0 keeps its
# queues and messages, and ends with the same objects as one made with the
# new version; before the update the new library serves the old SQL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE old; CREATE DATABASE fresh; CREATE DATABASE mid');

my $latest = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'mq'");

$node->safe_psql('old', q{
	CREATE EXTENSION mq VERSION '0.1.0';
	SELECT mq.create_queue('dlq');
	SELECT mq.create_queue('orders', max_receives => 1, dead_letter_queue => 'dlq');
	SELECT mq.send('orders', '{"n": 1}');
	SELECT mq.send('orders', '{"n": 2}');
	SELECT count(*) FROM mq.read('orders', 1, '1 millisecond');
	SELECT pg_sleep(0.01);
});
$node->safe_psql('old', 'ALTER EXTENSION mq UPDATE');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'mq'"),
	$latest, "the update reaches the default version ($latest)");
$node->safe_psql('fresh', 'CREATE EXTENSION mq');

# the extension's own objects, as both databases have them
my $objects = q{
	SELECT string_agg(o, E'\n' ORDER BY o) FROM (
		SELECT format('function %s %s %s %s %s %s', p.oid::regprocedure, p.prokind,
					  p.prosecdef, p.provolatile, p.proconfig, md5(p.prosrc))
		FROM pg_proc p WHERE p.pronamespace = 'mq'::regnamespace
		UNION ALL
		SELECT format('acl %s %s', p.oid::regprocedure, p.proacl)
		FROM pg_proc p WHERE p.pronamespace = 'mq'::regnamespace
		UNION ALL
		SELECT format('relation %s %s %s', c.relname, c.relkind, c.relacl)
		FROM pg_class c WHERE c.relnamespace = 'mq'::regnamespace
		  AND c.relname !~ '^[qads]_[0-9]+'
		UNION ALL
		SELECT format('column %s.%s %s', c.relname, a.attname,
					  format_type(a.atttypid, a.atttypmod))
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = 'mq'::regnamespace AND a.attnum > 0
		  AND NOT a.attisdropped AND c.relname !~ '^[qads]_[0-9]+'
		UNION ALL
		SELECT format('type %s', t.oid::regtype)
		FROM pg_type t WHERE t.typnamespace = 'mq'::regnamespace
		  AND t.typname !~ '^_?[qads]_[0-9]+'
	) s(o)};
my $fresh = $node->safe_psql('fresh', $objects);
is($node->safe_psql('old', $objects), $fresh,
	'an updated database has the same functions, privileges, relations and types as a new one');
like($fresh, qr/function mq\._announce\(text\)/, 'the comparison sees the new function');

# what was there still works, and the updated redrive works
is($node->safe_psql('old', q{SELECT body->>'n' FROM mq.read('orders', 1)}), '2',
	'a message sent before the update is read after it (the other went to dlq)');
is($node->safe_psql('old', q{SELECT mq.redrive('dlq', 'orders')}), '1',
	'mq.redrive() of the updated extension');
is($node->safe_psql('old', q{SELECT body->>'n' FROM mq.read('orders', 1)}), '1',
	'the redriven message is read');
is($node->safe_psql('old', q{SELECT has_function_privilege('public', 'mq._announce(text)', 'execute')}),
	'f', 'mq._announce() is not open to PUBLIC');

# from 0.2.0: publish's options moved, ack's array form became ack_batch,
# bind returns bool
$node->safe_psql('mid', q{
	CREATE EXTENSION mq VERSION '0.2.0';
	SELECT mq.create_queue('jobs', archive => true);
	SELECT mq.create_exchange('ex', 'fanout');
	SELECT mq.bind('ex', 'jobs');
	CREATE ROLE regress_worker;
	SELECT mq.grant('jobs', 'regress_worker', 'read');
	SELECT mq.send('jobs', '{"n": 1}');
});
# 0.2.0's SQL on the new library: publish(exchange, key, body, headers, mandatory, delay, priority, ...)
is($node->safe_psql('mid', q{SELECT mq.publish('ex', 'k', '{"n": 2}', NULL, true, '0', 5)}), '1',
	'0.2.0 publish with positional options works on the new library');
is($node->safe_psql('mid', q{SELECT priority FROM mq.read('jobs', 10) WHERE body->>'n' = '2'}), '5',
	'... and reads its options from their 0.2.0 places');
is($node->safe_psql('mid', q{SELECT count(*) FROM mq.publish_batch('ex', ARRAY['k'], ARRAY['{"n": 3}'::jsonb], NULL, true)}),
	'1', '0.2.0 publish_batch works on the new library');
my ($ret, $stdout, $stderr) = $node->psql('mid',
	q{PREPARE a(unknown, unknown) AS SELECT mq.ack($1, $2)});
like($stderr, qr/is not unique/, '0.2.0: mq.ack with untyped parameters is ambiguous');
$node->safe_psql('mid', 'ALTER EXTENSION mq UPDATE');
is($node->safe_psql('mid', "SELECT extversion FROM pg_extension WHERE extname = 'mq'"),
	$latest, "from 0.2.0 too the update reaches $latest");
is($node->safe_psql('mid', $objects), $fresh,
	'a database updated from 0.2.0 has the same objects as a new one');
is($node->safe_psql('mid', q{SELECT queue_length FROM mq.metrics('jobs')}), '3',
	'messages sent before the update are kept');
is($node->safe_psql('mid', q{SELECT grantee || ':' || privilege FROM mq.privileges}),
	'regress_worker:read', 'grants are kept');
is($node->safe_psql('mid', q{PREPARE a(unknown, unknown) AS SELECT mq.ack($1, $2); EXECUTE a('jobs', 1)}),
	't', 'mq.ack with untyped parameters resolves (one signature)');
is($node->safe_psql('mid', q{SELECT count(*) FROM mq.ack_batch('jobs', ARRAY[2, 3]::bigint[])}), '2',
	'mq.ack_batch replaces the array form');
is($node->safe_psql('mid', q{SELECT archive_length FROM mq.metrics('jobs')}), '3',
	'... and archives on an archive queue');
is($node->safe_psql('mid', q{SELECT mq.publish('ex', 'k', '{}', NULL, '0', NULL, NULL, 7, true)}), '1',
	'publish takes send\'s options in send\'s order, then mandatory');
is($node->safe_psql('mid', q{SELECT priority FROM mq.read('jobs')}), '7', '... in their new places');
is($node->safe_psql('mid', q{SELECT mq.bind('ex', 'jobs')}), 'f', 'bind says the binding was there');

# from 0.3.0: five new queue options; existing queues have none of them and
# keep their messages, and 0.3.0's SQL reads on the new library
$node->safe_psql('postgres', 'CREATE DATABASE v3');
$node->safe_psql('v3', q{
	CREATE EXTENSION mq VERSION '0.3.0';
	SELECT mq.create_queue('tenants', visibility_timeout => '1 hour');
	SELECT count(*) FROM mq.send_batch('tenants', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
									   group_keys => ARRAY['a', 'a', 'a', 'b']);
});
is($node->safe_psql('v3', q{SELECT string_agg(group_key, ',' ORDER BY msg_id) FROM mq.read('tenants', 2)}),
	'a,a', '0.3.0 SQL on the new library reads in age order');
$node->safe_psql('v3', 'ALTER EXTENSION mq UPDATE');
is($node->safe_psql('v3', $objects), $fresh,
	'a database updated from 0.3.0 has the same objects as a new one');
is($node->safe_psql('v3', q{SELECT fair, group_concurrency, rate_limit, rate_interval FROM mq.queues}),
	'f|||00:00:01', 'an existing queue has none of the new options');
$node->safe_psql('v3', q{SELECT mq.alter_queue('tenants', fair => true, group_concurrency => 2)});
is($node->safe_psql('v3', q{SELECT string_agg(group_key, ',' ORDER BY msg_id) FROM mq.read('tenants', 10)}),
	'b', 'after the update an existing queue takes the new options (fair, a at its limit of 2)');

# from 0.4.0: consumer groups; a stream made before the update keeps its
# records and positions, and a group on it reads them
$node->safe_psql('postgres', 'CREATE DATABASE v4');
$node->safe_psql('v4', q{
	CREATE EXTENSION mq VERSION '0.4.0';
	SELECT mq.create_stream('log', partitions => 2);
	SELECT count(*) FROM mq.append_batch('log', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[],
										 keys => ARRAY['a', 'b', 'a']);
});
is($node->safe_psql('v4', q{SELECT count(*) FROM generate_series(0, 1) p, mq.read_stream('log', p, 0)}),
	'3', '0.4.0 SQL on the new library replays the stream');
$node->safe_psql('v4', 'ALTER EXTENSION mq UPDATE');
is($node->safe_psql('v4', $objects), $fresh,
	'a database updated from 0.4.0 has the same objects as a new one');
$node->safe_psql('v4', q{SELECT mq.create_consumer_group('log', 'g', 'earliest')});
my $replayed = $node->safe_psql('v4', q{SELECT string_agg(body->>'n', ',' ORDER BY partition, position)
	FROM generate_series(0, 1) p, mq.read_stream('log', p, 0)});
is($node->safe_psql('v4', q{SELECT string_agg(body->>'n', ',' ORDER BY partition, position)
	FROM mq.poll('log', 'g', 'c')}), $replayed,
	'a group on a stream from before the update reads its records');
my $before = $node->safe_psql('v4', q{SELECT count(*) FROM mq.read_stream('log', mq.stream_partition('b', 2), 0)});
is($node->safe_psql('v4', q{SELECT position FROM mq.append('log', '{"n": 4}', key => 'b')}), $before,
	'and positions go on after the update');

# from 0.5.0: mq.compact_queue; a queue made before the update keeps its
# messages and leases through a compaction
$node->safe_psql('postgres', 'CREATE DATABASE v5');
$node->safe_psql('v5', q{
	CREATE EXTENSION mq VERSION '0.5.0';
	SELECT mq.create_queue('q5');
	SELECT count(*) FROM mq.send_batch('q5', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
	SELECT count(*) FROM mq.read('q5', 1, '1 hour');
});
$node->safe_psql('v5', 'ALTER EXTENSION mq UPDATE');
is($node->safe_psql('v5', $objects), $fresh,
	'a database updated from 0.5.0 has the same objects as a new one');
is($node->safe_psql('v5', q{SELECT mq.compact_queue('q5')}), '3',
	'a queue from before the update is compacted');
is($node->safe_psql('v5', q{SELECT string_agg(body->>'n', ',') FROM mq.read('q5', 10)}), '2,3',
	'and keeps its messages and its lease');

# from 0.6.0: a queue's table made before the update leaves half of each
# page it writes from then on free, as a new one does
$node->safe_psql('postgres', 'CREATE DATABASE v6');
$node->safe_psql('v6', q{
	CREATE EXTENSION mq VERSION '0.6.0';
	SELECT mq.create_queue('q6');
	SELECT count(*) FROM mq.send_batch('q6', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]);
});
my $q6 = q{SELECT c.reloptions FROM pg_class c, mq._queue q
	WHERE q.queue_name = 'q6' AND c.oid = ('mq.q_' || q.queue_id)::regclass};
is($node->safe_psql('v6', $q6), '{fillfactor=80}', 'a 0.6.0 queue table is filled to 80 %');
$node->safe_psql('v6', 'ALTER EXTENSION mq UPDATE');
is($node->safe_psql('v6', $objects), $fresh,
	'a database updated from 0.6.0 has the same objects as a new one');
is($node->safe_psql('v6', $q6), '{fillfactor=50}', 'and is filled to half after the update');
is($node->safe_psql('v6', q{SELECT string_agg(body->>'n', ',') FROM mq.read('q6', 10)}), '1,2',
	'and keeps its messages');

$node->stop;
done_testing();
