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

$node->stop;
done_testing();
