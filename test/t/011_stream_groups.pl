# Stream consumer groups on a live server: a waiting poll is woken by the
# commit of an append (not by its poll interval), and consumers that write
# their results and commit their positions in one transaction, killed at
# random points and once with the whole server (kill -9), end with every
# record's result exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('groups');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION mq');

# --- a waiting poll wakes at the commit of an append ---
$node->safe_psql('postgres', q{
	SELECT mq.create_stream('w', partitions => 2);
	SELECT mq.create_consumer_group('w', 'g');
});
my ($out, $err) = ('', '');
my $poller = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', "SET mq.poll_interval = '10s'",
	  '-c', "SELECT 'got ' || (body->>'n') FROM mq.poll('w', 'g', 'p1', wait => '60 seconds')" ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%mq.poll(''w''%' AND wait_event = 'Extension'
	AND pid <> pg_backend_pid()}), 'a poll waits');
my $t0 = time;
$node->safe_psql('postgres', q{SELECT mq.append('w', '{"n": 7}', key => 'k')});
$poller->pump until $out =~ /got 7/ || time - $t0 > 30;
my $elapsed = time - $t0;
$poller->finish;
like($out, qr/got 7/, 'the waiting poll gets the record');
cmp_ok($elapsed, '<', 5, 'woken by the commit, not by its 10 s poll interval');

# --- exactly once with the consumer's own writes, through kills ---
$node->safe_psql('postgres', q{
	SELECT mq.create_stream('eo', partitions => 4);
	SELECT count(*) FROM mq.append_batch('eo',
		ARRAY(SELECT jsonb_build_object('i', i) FROM generate_series(1, 3000) i),
		keys => ARRAY(SELECT 'key-' || i FROM generate_series(1, 3000) i));
	SELECT mq.create_consumer_group('eo', 'workers', 'earliest');
	CREATE TABLE results (partition int, position bigint, consumer text);
	-- poll, write the results, commit the positions: one transaction a batch
	CREATE PROCEDURE consume(me text) LANGUAGE plpgsql AS $$
	DECLARE
		ps int[];
		qs bigint[];
		idle int := 0;
	BEGIN
		LOOP
			SELECT array_agg(partition), array_agg(position) INTO ps, qs
			FROM mq.poll('eo', 'workers', me, 10, wait => '500 ms', session_timeout => '2 s');
			IF ps IS NULL THEN
				idle := idle + 1;
				EXIT WHEN idle >= 12;
				COMMIT;
				CONTINUE;
			END IF;
			idle := 0;
			INSERT INTO results SELECT p, q, me FROM unnest(ps, qs) AS u(p, q);
			PERFORM pg_sleep(0.02);
			PERFORM mq.commit('eo', 'workers', me, p, max(q) + 1)
			FROM unnest(ps, qs) AS u(p, q) GROUP BY p;
			COMMIT;
		END LOOP;
	END;
	$$;
});

my %consumers;
sub start_consumer
{
	my ($name) = @_;
	my ($o, $e) = ('', '');
	$consumers{$name} = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', "CALL consume('$name')" ],
		'>', \$o, '2>', \$e);
}
sub results { return $node->safe_psql('postgres', 'SELECT count(*) FROM results') }
sub wait_results
{
	my ($n) = @_;
	return $node->poll_query_until('postgres', "SELECT count(*) >= $n FROM results");
}

start_consumer($_) for qw(c1 c2 c3);
ok(wait_results(400), 'three consumers work');
# a consumer killed mid-transaction, started again under its own name
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'CALL consume(''c2'')%'});
$consumers{c2}->finish;
start_consumer('c2');
ok(wait_results(900), 'the consumers go on after one is killed');
# another killed and replaced by a new name: its partitions move on after
# its session times out
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'CALL consume(''c3'')%'});
$consumers{c3}->finish;
start_consumer('c4');
ok(wait_results(1500), 'and after another is replaced');
cmp_ok(results(), '<', 3000, 'the crash comes mid-stream');

# the whole server, kill -9
$node->kill9;
$_->finish for values %consumers;
%consumers = ();
my $started = 0;
foreach (1 .. 300)
{
	last if ($started = $node->start(fail_ok => 1));
	$node->{_pid} = undef;		# the failed start read the stale pid file
	usleep(100_000);
}
ok($started, 'the server restarts after the crash');
start_consumer($_) for qw(c5 c6);
# they stop after 12 empty polls in a row
$_->finish for values %consumers;

my ($total, $distinct, $committed) = split /\|/, $node->safe_psql('postgres', q{
	SELECT count(*), count(DISTINCT (partition, position)),
		   (SELECT sum(committed_position) FROM mq.consumer_groups WHERE stream = 'eo')
	FROM results});
is($distinct, '3000', 'every record has a result');
is($total, '3000', 'and none has two');
is($committed, '3000', 'the committed positions are at the end');

done_testing();
