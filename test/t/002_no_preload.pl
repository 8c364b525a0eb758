# Without shared_preload_libraries every function works, waiting reads poll
# (and say so once), and no worker runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('q');
});

my ($ret, $out, $err) = $node->psql('postgres', q{
	SELECT count(*) FROM mq.read('q', 1, '1 s', wait => '200 milliseconds');
	SELECT count(*) FROM mq.read('q', 1, '1 s', wait => '200 milliseconds');
});
is($ret, 0, 'a waiting read works without preloading');
is($out, "0\n0", 'and returns nothing from an empty queue when the wait ends');
my @notices = ($err =~ /NOTICE:  mq is not in shared_preload_libraries/g);
is(scalar(@notices), 1, 'it says once per session that it polls');

is($node->safe_psql('postgres', q{
	SELECT mq.send('q', '{"n": 1}');
	SELECT body->>'n' FROM mq.read('q', 1, '1 s', wait => '5 seconds');
}), "1\n1", 'send and a waiting read work');

is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'mq%'"),
	'0', 'no mq workers run');
is($node->safe_psql('postgres', 'SELECT count(*) FROM mq.maintain()'), '1',
	'mq.maintain() can be called by hand');

# rate limits need the shared memory: refused at create and alter
($ret, $out, $err) = $node->psql('postgres',
	"SELECT mq.create_queue('limited', rate_limit => 10)");
like($err, qr/ERROR:  rate limits need mq in shared_preload_libraries.*HINT:  Add mq to shared_preload_libraries/s,
	'create_queue refuses a rate limit without preloading');
($ret, $out, $err) = $node->psql('postgres',
	"SELECT mq.alter_queue('q', group_rate_limit => 10)");
like($err, qr/ERROR:  rate limits need mq in shared_preload_libraries/,
	'alter_queue refuses a group rate limit without preloading');
# a rate-limited queue made while preloaded, read after a restart without it
$node->safe_psql('postgres', q{
	UPDATE mq._queue SET rate_limit = 10 WHERE queue_name = 'q';
});
($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM mq.read('q')");
like($err, qr/ERROR:  rate limits need mq in shared_preload_libraries/,
	'a read of a rate-limited queue says why it cannot run, not lets it through');
$node->safe_psql('postgres', "UPDATE mq._queue SET rate_limit = NULL WHERE queue_name = 'q'");

# fair queues and group_concurrency work without it (each session keeps its
# own turn order)
$node->safe_psql('postgres',
	"SELECT mq.create_queue('fair', fair => true, group_concurrency => 1)");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM mq.send_batch('fair', ARRAY['{}', '{}', '{}']::jsonb[],
									   group_keys => ARRAY['a', 'a', 'b']);
	SELECT string_agg(group_key, ',' ORDER BY group_key) FROM mq.read('fair', 10);
}), "3\na,b", 'fair queues and group_concurrency work without preloading');

# streams need the shared memory too
$node->safe_psql('postgres', "SELECT mq.create_stream('log')");
($ret, $out, $err) = $node->psql('postgres', "SELECT mq.append('log', '{}')");
like($err, qr/ERROR:  streams need mq in shared_preload_libraries/,
	'an append without preloading says why it cannot run');

$node->stop;
done_testing();
