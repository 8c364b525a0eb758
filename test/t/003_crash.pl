# Crash recovery: every send whose commit returned survives a kill -9 of the
# postmaster, exactly once; acked messages stay acked; a lease held at the
# crash comes back when it ends; an unlogged queue is emptied.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes;
use File::Temp qw(tempfile);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('durable');
	SELECT mq.create_queue('leased');
	SELECT mq.create_queue('fast', unlogged => true);
	SELECT mq.send('fast', '{"lost": "on crash"}');
	SELECT mq.send('leased', '{"n": 1}');
	SELECT count(*) FROM mq.send_batch('durable', ARRAY(SELECT '{"acked": true}'::jsonb FROM generate_series(1, 10)));
	SELECT count(*) FROM mq.ack_batch('durable', ARRAY(SELECT generate_series(1, 10)::bigint));
	SELECT mq.create_stream('log');
	SELECT count(*) FROM mq.append_batch('log', ARRAY(SELECT jsonb_build_object('r', g) FROM generate_series(1, 10) g));
	SELECT mq.create_queue('batched');
	SELECT count(*) FROM mq.send_batch('batched', ARRAY(SELECT jsonb_build_object('b', g) FROM generate_series(1, 2500) g));
});

# a lease that ends after the crash: its end, as the server wrote it
my $lease_end = $node->safe_psql('postgres',
	q{SELECT vt FROM mq.read('leased', 1, '10 seconds')});

# a writer: 5000 sends, one per transaction; what psql printed committed.
# It pauses after 2500 so that the crash comes mid-stream however fast it
# runs (on a loaded machine it once finished before the kill).
my ($fh, $script) = tempfile();
for my $i (1 .. 5000)
{
	print $fh "SELECT mq.send('durable', jsonb_build_object('i', $i));\n";
	print $fh "DO \$\$ BEGIN PERFORM pg_sleep(60); END \$\$;\n" if $i == 2500;
}
close $fh;
my ($out, $err) = ('', '');
my $writer = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $script ],
	'>', \$out, '2>', \$err);
$writer->pump until ($out =~ tr/\n//) >= 1000;
$node->kill9;
$writer->finish;
my @ids = split /\n/, $out;
# the last line may be cut by the kill
pop @ids unless $out =~ /\n\z/;
cmp_ok(scalar(@ids), '>=', 1000, 'the writer got commits before the crash');
cmp_ok(scalar(@ids), '<', 5000, 'the crash came mid-stream');

# the killed postmaster's children notice and exit; start when they have
my $started = 0;
foreach (1 .. 300)
{
	last if ($started = $node->start(fail_ok => 1));
	$node->{_pid} = undef;		# the failed start read the stale pid file
	Time::HiRes::usleep(100_000);
}
ok($started, 'the server restarts after the crash');
my $list = join(',', @ids);
# one read takes every visible message of the queue; from it: the recorded
# sends (each once), the acked messages (none), and nothing twice
my ($recorded, $acked, $twice, $rest) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT count(*) FILTER (WHERE msg_id = ANY(ARRAY[$list]::bigint[])),
		   count(*) FILTER (WHERE (body->>'acked')::bool),
		   count(*) - count(DISTINCT msg_id),
		   (SELECT queue_length - in_flight FROM mq.metrics('durable'))
	FROM mq.read('durable', 10000, '1 hour')});
is($recorded, scalar(@ids), 'every recorded send is there after the crash');
is($acked, '0', 'acked messages stay acked');
is($twice, '0', 'nothing is delivered twice');
is($rest, '0', 'and the read took every visible message');
# a slow restart may outlast the lease: the clock before and after the read
# says which case to check (before its end nothing comes, after it the
# message does); a read that straddles the end checks neither
my ($before, $got, $after) = split /\n/, $node->safe_psql('postgres', qq{
	SELECT clock_timestamp() >= '$lease_end'::timestamptz;
	SELECT count(*) || '|' || coalesce(max(read_ct), 0) FROM mq.read('leased');
	SELECT clock_timestamp() < '$lease_end'::timestamptz;});
if ($after eq 't')
{
	is($got, '0|0', 'a lease held at the crash still holds');
	ok($node->poll_query_until('postgres',
		q{SELECT read_ct = 2 FROM mq.read('leased')}),
		'and the message comes back when it ends');
}
elsif ($before eq 't')
{
	pass('a lease held at the crash still holds (the restart outlasted it)');
	is($got, '1|2', 'and the message comes back when it ends');
}
else
{
	pass('a lease held at the crash still holds (the read met its end)');
	pass('and the message comes back when it ends (the read met its end)');
}
is($node->safe_psql('postgres', q{SELECT count(DISTINCT body->>'b') FROM mq.read('batched', 5000)}), '2500',
	'a committed batch (multi-insert) survives the crash whole');
is($node->safe_psql('postgres', q{SELECT queue_length FROM mq.metrics('fast')}), '0',
	'an unlogged queue is emptied by a crash');
is($node->safe_psql('postgres', q{SELECT mq.send('fast', '{}') > 0}), 't',
	'and works again');

# a stream: committed appends survive, and positions go on after them
is($node->safe_psql('postgres', q{SELECT count(*), max(position) FROM mq.read_stream('log', 0, 0)}),
	'10|9', 'a stream keeps its committed appends through a crash');
is($node->safe_psql('postgres', q{SELECT position FROM mq.append('log', '{}')}), '10',
	'and the next append takes the next position');

$node->stop;
done_testing();
