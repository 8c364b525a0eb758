# Fixed tables in shared memory: mq.max_stream_partitions bounds the stream
# partitions it knows (a dropped stream gives its back at commit, not in a
# drop that rolls back; a full table says so), and mq.max_rate_groups the
# rate buckets (with none to spare a group waits: never unlimited).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('streams');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
mq.max_stream_partitions = 16
mq.max_rate_groups = 16
mq.max_stream_consumers = 16
mq.max_group_partitions = 16
# one role fills each table here (test/t/014_role_limits.pl has the shares)
mq.max_rate_groups_per_role = 16
mq.max_stream_partitions_per_role = 16
mq.max_stream_consumers_per_role = 16
mq.max_group_partitions_per_role = 16
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION mq');

# 10 streams of 4 partitions, one after another: 40 partitions in all
my $ok = 1;
for my $i (1 .. 10)
{
	my ($ret, $out, $err) = $node->psql('postgres', qq{
		SELECT mq.create_stream('s$i', partitions => 4);
		SELECT count(*) FROM mq.append_batch('s$i', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
											 keys => ARRAY['a', 'b', 'c', 'd']);
		SELECT count(*) FROM generate_series(0, 3) p, mq.read_stream('s$i', p, 0);
		SELECT mq.drop_stream('s$i');
	});
	if ($ret != 0) { $ok = 0; diag($err); last; }
}
ok($ok, 'dropped streams give their partitions back to shared memory');

# a drop that rolls back keeps them (and the positions go on)
$node->safe_psql('postgres', q{
	SELECT mq.create_stream('kept');
	SELECT mq.append('kept', '{}');
	BEGIN;
	SELECT mq.drop_stream('kept');
	ROLLBACK;
});
is($node->safe_psql('postgres', q{SELECT position FROM mq.append('kept', '{}')}), '1',
	'a drop that rolled back forgets nothing');

# a full table: the error names the setting
$node->safe_psql('postgres', q{SELECT mq.create_stream('wide', partitions => 20)});
my ($ret, $out, $err) = $node->psql('postgres', q{
	SELECT count(*) FROM generate_series(0, 19) p, mq.read_stream('wide', p, 0)
});
like($err, qr/too many stream partitions in use \(mq.max_stream_partitions is 16\).*HINT:  Raise mq.max_stream_partitions/s,
	'a full table of partitions is an error that names the setting');

# 40 groups under a limit of one message an hour each, 16 buckets: a bucket
# that has given its token is not full, so it cannot make room; 16 groups
# get their message, the other 24 wait
$node->safe_psql('postgres', q{
	SELECT mq.create_queue('tenants', group_rate_limit => 1, rate_interval => '1 hour');
	SELECT count(*) FROM mq.send_batch('tenants', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 40)),
									   group_keys => ARRAY(SELECT 't' || g FROM generate_series(1, 40) g));
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq.read('tenants', 100)}), '16',
	'a full table of rate buckets holds new groups back');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq.read('tenants', 100)}), '0',
	'... and keeps holding them and the others back');

# consumer groups' tables: 16 consumers, 16 (group, partition) pairs; full,
# each is an error that names its setting, and a dropped group gives back
$node->safe_psql('postgres', q{
	SELECT mq.drop_stream(s) FROM mq.streams s(s);
});
$node->safe_psql('postgres', q{
	SELECT mq.create_stream('members', partitions => 4);
	SELECT mq.create_consumer_group('members', 'g');
});
my $members_ok = 1;
for my $c (1 .. 16)
{
	my ($r, $o, $e) = $node->psql('postgres', qq{SELECT count(*) FROM mq.poll('members', 'g', 'c$c')});
	if ($r != 0) { $members_ok = 0; diag($e); last; }
}
ok($members_ok, '16 consumers fit in mq.max_stream_consumers = 16');
($ret, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM mq.poll('members', 'g', 'c17')});
like($err, qr/too many stream consumers \(mq.max_stream_consumers is 16\).*HINT:  Raise mq.max_stream_consumers/s,
	'a full table of consumers is an error that names the setting');
$node->safe_psql('postgres', q{SELECT mq.create_stream('many', partitions => 20);
	SELECT mq.create_consumer_group('many', 'g', 'earliest')});
($ret, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM mq.poll('many', 'g', 'x')});
like($err, qr/too many consumer group partitions in use \(mq.max_group_partitions is 16\).*HINT:  Raise mq.max_group_partitions/s,
	'a full table of group partitions is an error that names the setting');
$node->safe_psql('postgres', q{SELECT mq.drop_consumer_group('members', 'g');
	SELECT mq.create_consumer_group('members', 'h')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq.poll('members', 'h', 'c1')}), '0',
	'a dropped group gives its consumers and partitions back');

$node->stop;
done_testing();
