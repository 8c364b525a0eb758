# Per-backend caches stay right when building them fails or races a
# change: a routing cache whose load failed halfway (a lock timeout on
# mq._binding) is not used half-built, and a queue whose catalog entry is
# read while an invalidation arrives keeps its grants.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# a query's output without its trailing newline (BackgroundPsql keeps it
# in some versions)
sub out
{
	my ($psql, $sql) = @_;
	my ($o, $failed) = $psql->query($sql);
	$o =~ s/\s+\z// if defined $o;
	return ($o, $failed);
}

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('rq');
	SELECT mq.create_queue('rq2');
	SELECT mq.create_exchange('ex', 'direct');
	SELECT mq.bind('ex', 'rq', 'k');
});

# Session a routes through a warm cache, then another session changes the
# bindings (a's cache is invalid) and holds a lock on mq._binding, so that
# a's reload fails with a lock timeout.  Once the lock is gone, a's next
# publish must reload: before the fix it used the half-built cache, whose
# exchanges had no bindings, and the message reached no queue.
my $sa = $node->background_psql('postgres');
is((out($sa, q{SELECT mq.publish('ex', 'k', '{"n": 1}')}))[0], '1',
	'a publish through a warm routing cache reaches its queue');
$node->safe_psql('postgres', q{SELECT mq.bind('ex', 'rq2', 'k2')});
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE mq._binding IN ACCESS EXCLUSIVE MODE');
$sa->query_safe(q{SET lock_timeout = '100ms'});
# (an error would end the background psql: catch it and say so)
$sa->query(q{DO $$ BEGIN
	PERFORM mq.publish('ex', 'k', '{"n": 2}');
	RAISE NOTICE 'published';
EXCEPTION WHEN lock_not_available THEN
	RAISE NOTICE 'publish failed: %', SQLERRM;
END $$});
like($sa->{stderr}, qr/publish failed: canceling statement due to lock timeout/,
	'the reload of the routing cache fails while mq._binding is locked');
$sa->{stderr} = '';
$locker->query_safe('COMMIT');
$locker->quit;
is((out($sa, q{SELECT mq.publish('ex', 'k', '{"n": 3}')}))[0], '1',
	'after the failed load the same session routes to the queue again');
is((out($sa, q{SELECT mq.publish('ex', 'k2', '{"n": 4}')}))[0], '1',
	'and sees the binding made meanwhile');
$sa->quit;
is($node->safe_psql('postgres',
	q{SELECT string_agg(body->>'n', ',' ORDER BY msg_id) FROM mq.read('rq', 10)}),
	'1,3', 'rq has the messages of the publishes that succeeded');

# The queue cache: role r (not the owner) may send to y by a grant.  In a
# transaction that has not yet read the queue catalog, r's first look at y
# takes the catalog lock and with it the invalidation of another session's
# change: the cache is reset in the middle of the look-up.  The grants
# must survive that (they were left pointing into the reset memory: on a
# server with assertions r was refused).
$node->safe_psql('postgres', q{
	CREATE ROLE r;
	SELECT mq.create_queue('x');
	SELECT mq.create_queue('y');
	SELECT mq.grant('x', 'r', 'send');
	SELECT mq.grant('y', 'r', 'send');
});
my $r = $node->background_psql('postgres');
$r->query_safe('SET ROLE r');
$r->query_safe(q{SELECT mq.send('x', '{}')});	# the cache is warm
$r->query_safe('BEGIN');
$r->query_safe('SELECT 1');
$node->safe_psql('postgres',
	q{SELECT mq.alter_queue('x', visibility_timeout => '10 seconds')});
my ($out, $failed) = out($r, q{SELECT mq.send('y', '{"from": "r"}') > 0});
ok(!$failed && $out eq 't',
	'a grantee sends to a queue looked up while an invalidation arrives')
  or diag($r->{stderr});
$r->{stderr} = '';
($out, $failed) = out($r, q{SELECT mq.send('y', '{"from": "r"}') > 0});
ok(!$failed && $out eq 't', 'and again from the cached entry')
  or diag($r->{stderr});
$r->query_safe('COMMIT');
$r->quit;
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq.read('y', 10)}), '2',
	'both sends committed');

# The stream cache: a session appends through its cached stream; another
# drops the stream and makes a new one of the same name, and then opens a
# new segment of it (the worker's rotation); the first session's next
# appends go to the new stream's newest segment, not to the dropped one.
$node->safe_psql('postgres', q{SELECT mq.create_stream('cs')});
my $c = $node->background_psql('postgres');
($out, $failed) = out($c, q{SELECT position FROM mq.append('cs', '{"n": 1}')});
is($out, '0', 'a session appends to a stream (and caches it)');
$node->safe_psql('postgres', q{
	SELECT mq.drop_stream('cs');
	SELECT mq.create_stream('cs');
});
($out, $failed) = out($c, q{SELECT position FROM mq.append('cs', '{"n": 2}')});
ok(!$failed && $out eq '0', 'after a drop and create elsewhere it appends to the new stream')
  or diag($c->{stderr});
$c->{stderr} = '';
$node->safe_psql('postgres', q{
	SELECT mq._create_segment(s, 2) FROM mq._stream s WHERE stream_name = 'cs';
});
($out, $failed) = out($c, q{SELECT position FROM mq.append('cs', '{"n": 3}')});
ok(!$failed && $out eq '1', 'and positions go on')
  or diag($c->{stderr});
$c->quit;
is($node->safe_psql('postgres', q{
	SELECT string_agg(body->>'n', ',' ORDER BY position) FROM mq.read_stream('cs', 0, 0)}), '2,3',
	'both records are in the new stream');
my $sid = $node->safe_psql('postgres', q{SELECT stream_id FROM mq._stream WHERE stream_name = 'cs'});
is($node->safe_psql('postgres', qq{SELECT count(*) FROM mq.s_${sid}_2}), '1',
	'the second went to the newest segment');

$node->stop;
done_testing();
