# Streaming replication: a hot standby can watch queues but not change them;
# after the primary dies mid-stream and the synchronous standby is promoted,
# every recorded send is there and the new primary serves and runs workers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Temp qw(tempfile);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = '200ms'
# the worker stays (016 tests the pool's comings and goings)
mq.worker_idle_timeout = -1
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('jobs');
	SELECT mq.create_queue('fast', unlogged => true);
	SELECT mq.create_exchange('events', 'topic');
	SELECT mq.bind('events', 'jobs', 'job.#');
	SELECT mq.publish('events', 'job.created', '{"n": 0}');
	SELECT mq.send('fast', '{}');
});
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', q{
cluster_name = 'standby'
});
$standby->start;
# from now on every commit waits for the standby
$primary->safe_psql('postgres', q{
	ALTER SYSTEM SET synchronous_standby_names = 'standby';
	SELECT pg_reload_conf();
});
ok($primary->poll_query_until('postgres',
	q{SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = 'standby'}),
	'the standby is synchronous');
$primary->wait_for_catchup($standby);

# the standby: read-only functions work, writing ones refuse clearly
is($standby->safe_psql('postgres', q{SELECT queue_length FROM mq.metrics('jobs')}), '1',
	'mq.metrics works on the standby');
is($standby->safe_psql('postgres', q{SELECT string_agg(queue_name, ',' ORDER BY queue_name) FROM mq.queues}),
	'fast,jobs', 'mq.queues works on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM mq.bindings}), '1',
	'mq.bindings works on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM mq.metrics_all()}), '2',
	'mq.metrics_all works on the standby');
my ($ret, $out, $err) = $standby->psql('postgres', q{
	\set VERBOSITY verbose
	SELECT mq.send('jobs', '{}')});
like($err, qr/25006: mq\.send\(\) cannot run on a standby/, 'send refuses with 25006');
like($err, qr/HINT:  Connect to the primary server\./, 'with a hint to go to the primary');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT mq.read('jobs', 1, '1 s', wait => '1 s')});
like($err, qr/mq\.read\(\) cannot run on a standby/, 'a blocking read is refused');
foreach my $call ("mq.create_queue('x')", "mq.ack('jobs', 1)", "mq.publish('events', 'job.x', '{}')",
				  "mq.maintain()", "mq.bind('events', 'jobs', 'k')")
{
	($ret, $out, $err) = $standby->psql('postgres', "SELECT $call");
	like($err, qr/cannot run on a standby/, "$call refuses on the standby");
}
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'mq%'"), '0',
	'no mq workers run on the standby');
is($standby->safe_psql('postgres', q{SELECT queue_length IS NULL FROM mq.metrics('fast')}), 't',
	'an unlogged queue has no content on a standby: its length is unknown');
$primary->safe_psql('postgres', q{
	SELECT mq.create_stream('log');
	SELECT count(*) FROM mq.append_batch('log', ARRAY['{"r": 1}', '{"r": 2}']::jsonb[]);
});
$primary->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres',
	q{SELECT string_agg(body->>'r', ',' ORDER BY position) FROM mq.read_stream('log', 0, 0)}, '1,2'),
	'mq.read_stream works on the standby');
# positions in commit order on the standby too: while the append that holds
# position 2 is in progress on the primary, the standby does not return 3,
# which committed after it; the primary's worker tells it the readable end
my $inflight = $primary->background_psql('postgres');
$inflight->query_safe(q{BEGIN});
$inflight->query_safe(q{SELECT mq.append('log', '{"r": "slow"}')});
$primary->safe_psql('postgres', q{SELECT mq.append('log', '{"r": "fast"}')});
$primary->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres',
	q{SELECT count(*) FROM mq._stream_end e JOIN mq._stream s USING (stream_id)
	  WHERE s.stream_name = 'log' AND e.end_position = 2}, '1'),
	'the primary wrote the readable end for standbys');
is($standby->safe_psql('postgres', q{SELECT string_agg(body->>'r', ',' ORDER BY position) FROM mq.read_stream('log', 0, 0)}),
	'1,2', 'the standby does not pass the position still in flight on the primary');
$inflight->query_safe(q{COMMIT});
$inflight->quit;
ok($standby->poll_query_until('postgres',
	q{SELECT string_agg(body->>'r', ',' ORDER BY position) FROM mq.read_stream('log', 0, 0)}, '1,2,slow,fast'),
	'once it commits the standby reads both, in position order');
($ret, $out, $err) = $standby->psql('postgres', "SELECT mq.append('log', '{}')");
like($err, qr/cannot run on a standby/, 'mq.append refuses on the standby');
# a consumer group commits on the primary (synchronously replicated)
$primary->safe_psql('postgres', q{
	SELECT mq.create_consumer_group('log', 'g', 'earliest');
	BEGIN;
	SELECT count(*) FROM mq.poll('log', 'g', 'c1');
	SELECT mq.commit('log', 'g', 'c1', 0, 2);
	COMMIT;
});
ok($standby->poll_query_until('postgres', q{SELECT committed_position, end_position, lag FROM mq.consumer_groups},
	'2|4|2'), 'mq.consumer_groups on the standby shows the committed position and the end');
foreach my $call ("mq.poll('log', 'g', 'c2')", "mq.commit('log', 'g', 'c1', 0, 2)",
				  "mq.seek('log', 'g', to_end => 'earliest')")
{
	($ret, $out, $err) = $standby->psql('postgres', "SELECT * FROM $call");
	like($err, qr/cannot run on a standby/, "$call refuses on the standby");
}

# a writer, then the primary dies
my ($fh, $script) = tempfile();
print $fh "SELECT mq.send('jobs', jsonb_build_object('i', $_));\n" for 1 .. 5000;
close $fh;
($out, $err) = ('', '');
my $writer = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $primary->connstr('postgres'), '-f', $script ],
	'>', \$out, '2>', \$err);
$writer->pump until ($out =~ tr/\n//) >= 500;
$primary->stop('immediate');
$writer->finish;
my @ids = split /\n/, $out;
pop @ids unless $out =~ /\n\z/;
cmp_ok(scalar(@ids), '>=', 500, 'the writer got commits before the failover');

$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'the promoted standby leaves recovery');
my $list = join(',', @ids);
is($standby->safe_psql('postgres', qq{
	SELECT count(*) FROM mq.read('jobs', 10000, '1 hour')
	WHERE msg_id = ANY(ARRAY[$list]::bigint[])}),
	scalar(@ids), 'every recorded send survived the failover');
is($standby->safe_psql('postgres', q{
	SELECT mq.send('jobs', '{"after": "failover"}') > 0;
	SELECT body->>'after' FROM mq.pop('jobs', 10000) WHERE body ? 'after';
	SELECT mq.publish('events', 'job.done', '{}');}),
	"t\nfailover\n1", 'send, pop and publish work on the new primary');
ok($standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = 'postgres'"),
	'the workers start on the new primary');
is($standby->safe_psql('postgres', q{
	SELECT position FROM mq.append('log', '{"r": 3}');
	SELECT string_agg(body->>'r', ',' ORDER BY position) FROM mq.poll('log', 'g', 'c2');}),
	"4\nslow,fast,3", 'on the new primary positions go on and the group resumes at its committed position');

$standby->stop;
done_testing();
