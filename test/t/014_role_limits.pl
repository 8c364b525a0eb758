# One role cannot take the whole of a shared-memory table from the others
# (doc/security.md, "Sharing a server"): with tables of 16 entries and the
# default shares (a quarter each), a hostile role's exhaustion attempts end
# at its share with an error naming the setting while another role keeps
# working; rate buckets that never refill, which hold groups back instead
# of failing, give way to a role with fewer buckets; and a superuser's
# drop gives everything back without a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('role_limits');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
mq.max_stream_partitions = 16
mq.max_rate_groups = 16
mq.max_stream_consumers = 16
mq.max_group_partitions = 16
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	CREATE ROLE hostile LOGIN;
	CREATE ROLE tenant LOGIN;
	-- as if many hostile roles shared the rate buckets: this one may fill them
	ALTER ROLE hostile SET mq.max_rate_groups_per_role = 16;
});

sub as_role
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $role ]);
	return ($ret, $out, $err);
}

sub usage
{
	my ($pool) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(role::text || '=' || entries, ' ' ORDER BY role::text)
		FROM mq.shared_memory_usage() WHERE pool = '$pool'});
}

# rate buckets: 40 groups under one message per 100 years fill the table
my ($ret, $out, $err) = as_role('hostile', q{
	SELECT mq.create_queue('flood', group_rate_limit => 1, rate_interval => '100 years');
	SELECT count(*) FROM mq.send_batch('flood', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 40)),
		group_keys => ARRAY(SELECT 'h' || g FROM generate_series(1, 40) g));
	SELECT count(*) FROM mq.read('flood', 100);
});
is($out, "\n40\n16", 'the hostile role fills the table of rate buckets') or diag($err);

# another role's rate-limited queue still delivers: its new buckets take
# the hostile role's least recently used ones
($ret, $out, $err) = as_role('tenant', q{
	SELECT mq.create_queue('fair_share', group_rate_limit => 1, rate_interval => '1 hour');
	SELECT count(*) FROM mq.send_batch('fair_share', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 3)),
		group_keys => ARRAY['a', 'b', 'c']);
	SELECT count(*) FROM mq.read('fair_share', 100);
});
is($out, "\n3\n3", 'another role gets buckets from a full table') or diag($err);
is(usage('rate buckets'), 'hostile=13 tenant=3', 'taken from the role that held the most');
($ret, $out, $err) = as_role('hostile', q{SELECT count(*) FROM mq.read('flood', 100)});
is($out, '0', 'the hostile role cannot take them back') or diag($err);

# a superuser's drop gives the buckets back, no restart needed
$node->safe_psql('postgres', q{SELECT mq.drop_queue('flood')});
is(usage('rate buckets'), 'tenant=3', "a dropped queue's buckets leave shared memory");

# stream partitions: 4 streams of 4 partitions would fill the table
($ret, $out, $err) = as_role('hostile', q{
	SELECT mq.create_stream('h' || i, partitions => 4) FROM generate_series(1, 4) i;
	SELECT count(*) FROM generate_series(1, 4) i, generate_series(0, 3) p,
		mq.read_stream('h' || i, p, 0);
});
like($err, qr/ERROR:  role "hostile" holds too many stream partitions in shared memory \(mq.max_stream_partitions_per_role is 4\)/,
	'the hostile role stops at its share of stream partitions');
($ret, $out, $err) = as_role('tenant', q{
	SELECT mq.create_stream('t', partitions => 2);
	SELECT count(*) FROM mq.append_batch('t', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
		keys => ARRAY['a', 'b', 'c', 'd']);
	SELECT mq.create_consumer_group('t', 'g', 'earliest');
	SELECT count(*) FROM mq.poll('t', 'g', 'c');
});
is($ret, 0, 'another role still appends and polls') or diag($err);
$node->safe_psql('postgres', q{
	SELECT mq.drop_stream(s.stream) FROM mq.streams s WHERE s.owner = 'hostile';
});
is(usage('stream partitions'), 'tenant=2', "dropped streams' partitions leave shared memory");

# consumers: many names, a long session
($ret, $out, $err) = as_role('hostile', q{
	SELECT mq.create_stream('hc', partitions => 1);
	SELECT mq.create_consumer_group('hc', 'g');
	SELECT count(*) FROM generate_series(1, 16) i,
		mq.poll('hc', 'g', 'c' || i, session_timeout => '1 day');
});
like($err, qr/ERROR:  role "hostile" holds too many stream consumers \(mq.max_stream_consumers_per_role is 4\)/,
	'the hostile role stops at its share of consumers');
($ret, $out, $err) = as_role('tenant', q{SELECT count(*) FROM mq.poll('t', 'g', 'c2')});
is($ret, 0, 'another role still registers consumers') or diag($err);

# group partitions: many groups
($ret, $out, $err) = as_role('hostile', q{
	SELECT mq.create_consumer_group('hc', 'g' || i) FROM generate_series(1, 16) i;
	SELECT count(*) FROM generate_series(1, 16) i, mq.poll('hc', 'g' || i, 'x');
});
like($err, qr/ERROR:  role "hostile" holds too many consumer group partitions in shared memory \(mq.max_group_partitions_per_role is 4\)/,
	'the hostile role stops at its share of group partitions');
($ret, $out, $err) = as_role('tenant', q{
	SELECT mq.create_consumer_group('t', 'g2', 'earliest');
	SELECT count(*) FROM mq.poll('t', 'g2', 'c');
});
is($out, "\n4", "another role's new group still polls") or diag($err);

# a superuser's drops give the hostile role's entries back
$node->safe_psql('postgres', q{
	SELECT mq.drop_stream(s.stream) FROM mq.streams s WHERE s.owner = 'hostile';
});
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM mq.shared_memory_usage() WHERE role = 'hostile'::regrole}),
	'0', "dropped streams give all of the hostile role's entries back");

# a dropped database, or a dropped extension, gives its entries back: each
# round takes the hostile role's whole share of stream partitions (4), so
# without that the second round would stop at the share
my $before = usage('stream partitions');
foreach my $round (1 .. 3)
{
	$node->safe_psql('postgres', 'CREATE DATABASE gone');
	$node->safe_psql('gone', 'CREATE EXTENSION mq');
	($ret, $out, $err) = $node->psql('gone', q{
		SELECT mq.create_stream('s', partitions => 4);
		SELECT count(DISTINCT (p).partition) FROM generate_series(1, 200) i,
			mq.append('s', '{}'::jsonb, key => i::text) p;
	}, extra_params => [ '-U', 'hostile' ]);
	is($out, "\n4", "round $round: the hostile role appends to its 4 partitions in a new database")
	  or diag($err);
	isnt(usage('stream partitions'), $before, "round $round: they are in shared memory");
	if ($round < 3)
	{
		$node->safe_psql('postgres', 'DROP DATABASE gone');
		is(usage('stream partitions'), $before,
			"round $round: DROP DATABASE gives them back");
	}
	else
	{
		$node->safe_psql('gone', 'DROP EXTENSION mq CASCADE');
		is(usage('stream partitions'), $before,
			"round $round: DROP EXTENSION mq gives them back");
		$node->safe_psql('postgres', 'DROP DATABASE gone');
	}
}

$node->stop;
done_testing();
