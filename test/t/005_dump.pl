# pg_dump / pg_restore of a database with queues, exchanges, bindings and
# messages gives a working system.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE DATABASE src;
});
$node->safe_psql('src', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('dlq');
	SELECT mq.create_queue('orders', max_receives => 3, dead_letter_queue => 'dlq',
						   archive => true, dedup_window => '1 hour');
	SELECT mq.create_queue('other');
	SELECT mq.create_exchange('events', 'topic');
	SELECT mq.bind('events', 'orders', 'orders.#');
	SELECT mq.bind('events', 'other', '#');
	SELECT mq.publish('events', 'orders.new', jsonb_build_object('n', n)) FROM generate_series(1, 5) n;
	SELECT mq.send('orders', '{"k": 1}', dedup_key => 'k1');
	SELECT mq.ack('orders', 1);
	CREATE ROLE regress_owner;
	SET ROLE regress_owner;
	SELECT mq.create_queue('owned');
	RESET ROLE;
});
my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ], 'pg_restore');

my $state = q{
	SELECT string_agg(format('%s:%s:%s', queue_name, queue_length, archive_length), ' ' ORDER BY queue_name)
	FROM mq.metrics_all()};
is($node->safe_psql('dst', $state), $node->safe_psql('src', $state),
	'queues, messages and archives are restored');
is($node->safe_psql('dst', q{SELECT string_agg(source || '>' || destination || ':' || binding_key, ' ' ORDER BY 1) FROM mq.bindings}),
	'events>orders:orders.# events>other:#', 'bindings are restored');
is($node->safe_psql('dst', q{SELECT max_receives || ' ' || dead_letter_queue FROM mq.queues WHERE queue_name = 'orders'}),
	'3 dlq', 'options are restored');
is($node->safe_psql('dst', q{SELECT mq.publish('events', 'orders.x', '{}')}), '2',
	'routing works after the restore');
is($node->safe_psql('dst', q{SELECT mq.send('orders', '{}', dedup_key => 'k1')}), '6',
	'a dedup key in the queue is still known');
is($node->safe_psql('dst', q{SELECT mq.send('orders', '{}')}), '8',
	'message ids go on where they were');
is($node->safe_psql('dst', q{SELECT mq.create_queue('new'); SELECT queue_length FROM mq.metrics('new')}),
	"\n0", 'new queues can be created');
is($node->safe_psql('dst', q{SELECT count(*) FROM mq.read('orders', 100)}), '7',
	'messages can be read');

# owners are restored, and so are their dependencies: the role cannot be
# dropped, from any database, until DROP OWNED in both
is($node->safe_psql('dst', q{SELECT owner FROM mq.queues WHERE queue_name = 'owned'}),
	'regress_owner', 'owners are restored');
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP ROLE regress_owner');
isnt($ret, 0, 'DROP ROLE of an owner of queues fails');
like($stderr, qr/1 object in database src\n.*1 object in database dst/s,
	'... naming both databases');
$node->safe_psql('src', 'DROP OWNED BY regress_owner');
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP ROLE regress_owner');
like($stderr, qr/1 object in database dst/, 'the restored dependency holds alone');
$node->safe_psql('dst', 'DROP OWNED BY regress_owner');
$node->safe_psql('postgres', 'DROP ROLE regress_owner');
is($node->safe_psql('dst', q{SELECT count(*) FROM mq.queues WHERE queue_name = 'owned'}),
	'0', 'DROP OWNED dropped the queue');

$node->stop;
done_testing();
