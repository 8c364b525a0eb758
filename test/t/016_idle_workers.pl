# Idle means asleep: the workers of databases with queues and streams but
# no traffic use next to no CPU (they sleep until something is due or a
# commit wakes them), while an active database's timed work still happens:
# TTL expiry and dead-lettering at their deadlines (mq.worker_max_sleep is
# an hour here, so only the worker's own reckoning of what is next due
# brings them), a notify queue's NOTIFY, a waiting reader's wakeup, the
# readable ends written for standbys.  mq.workers shows each worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $ndb = 15;
my $window = 20;	# seconds of idle measured

my $node = PostgreSQL::Test::Cluster->new('idle');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mq'
max_worker_processes = 40
mq.worker_max_sleep = '1h'
autovacuum = off
});
$node->start;

# every database: queues of each kind with a message that is due only in an
# hour or more (a TTL, a lease on a queue with max_receives, an archived
# message under retention), a notify queue and a stream
my $setup = q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('dlq', notify => true);
	SELECT mq.create_queue('ttl', message_ttl => '1 hour');
	SELECT mq.create_queue('poison', max_receives => 1, dead_letter_queue => 'dlq');
	SELECT mq.create_queue('kept', archive => true, retention => '1 day');
	SELECT mq.create_queue('n', notify => true);
	SELECT mq.send('ttl', '{"n": 1}');
	SELECT mq.send('poison', '{"n": 1}');
	SELECT count(*) FROM mq.read('poison', 1, '2 hours');
	SELECT mq.send('kept', '{"n": 1}');
	SELECT mq.archive('kept', m.msg_id) FROM mq.read('kept', 1) m;
	SELECT mq.create_stream('s', partitions => 2, retention => '1 day');
	SELECT mq.append('s', '{"n": 1}');
};
$node->safe_psql('postgres', $setup);
for my $i (1 .. $ndb)
{
	$node->safe_psql('postgres', "CREATE DATABASE idle$i");
	$node->safe_psql("idle$i", $setup);
}
ok($node->poll_query_until('postgres', qq{SELECT count(*) = @{[ $ndb + 1 ]}
	FROM pg_stat_activity WHERE backend_type = 'mq worker'}),
	'a worker serves each database');

# CPU time (user + system, in clock ticks) of the mq processes
my $ticks_per_second = `getconf CLK_TCK`;
chomp $ticks_per_second;
$ticks_per_second ||= 100;
sub mq_pids
{
	return split /\n/, $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
		WHERE backend_type IN ('mq worker', 'mq launcher') ORDER BY pid});
}
sub cpu_ticks
{
	my %ticks;
	for my $pid (@_)
	{
		my $stat = slurp_file("/proc/$pid/stat");
		# the fields after the command name, which is in parentheses
		$stat =~ s/^.*\)\s+//s;
		my @f = split /\s+/, $stat;
		$ticks{$pid} = $f[11] + $f[12];	# utime, stime (fields 14, 15)
	}
	return \%ticks;
}

# let the setup's aftermath pass (the rounds that follow activity), then
# measure the idle workers
sleep(15);
my @pids = mq_pids();
my $before = cpu_ticks(@pids);
sleep($window);
my @after_pids = mq_pids();
is("@after_pids", "@pids", 'the same mq processes ran all along');
my $after = cpu_ticks(@pids);
my $used = 0;
$used += $after->{$_} - $before->{$_} for @pids;
my $share = 100 * $used / $ticks_per_second / $window;
note(sprintf('%d idle databases: %d ticks in %d s, %.2f%% of one core in all',
	$ndb + 1, $used, $window, $share));
cmp_ok($share, '<', 1, "idle workers use less than 1% of one core in all");

# mq.workers: this database's worker, asleep with its next wakeup an hour
# or more away (the earliest deadline here is the TTL in an hour) once the
# round that follows activity (at most 61 s after it) is over
my $pg_pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'mq worker' AND datname = current_database()});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mq.workers
	WHERE database = current_database() AND state = 'sleeping'
	  AND next_wake > now() + interval '50 minutes'}),
	'mq.workers shows the worker asleep until its next deadline');
is($node->safe_psql('postgres', q{SELECT pid, last_work IS NOT NULL, last_work_at <= now()
	FROM mq.workers WHERE database = current_database()}), "$pg_pid|t|t",
	'mq.workers shows its pid and what it did last');
is($node->safe_psql('postgres', q{SET ROLE pg_monitor; SELECT count(*) > 0 FROM mq.workers}), 't',
	'a role that is not a superuser reads mq.workers');
note($node->safe_psql('postgres', 'SELECT * FROM mq.workers ORDER BY database'));

# the active database: one worker, woken by commits and deadlines
$node->safe_psql('postgres', q{
	SELECT mq.create_queue('short_ttl', message_ttl => '100 seconds');
	SELECT mq.create_queue('short_poison', max_receives => 1, dead_letter_queue => 'dlq');
	SELECT mq.send('short_ttl', '{"n": 1}');
	SELECT mq.send('short_poison', '{"n": 1}');
	SELECT count(*) FROM mq.read('short_poison', 1, '100 seconds');
});
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN "mq.n"');
my %heard;
sub hear
{
	my ($channel) = @_;
	foreach (1 .. 600)
	{
		my $got = $listener->query_safe('SELECT 1');
		$heard{$1} = 1 while $got =~ /Asynchronous notification "([^"]+)"/g;
		return 1 if $heard{$channel};
		usleep(100_000);
	}
	return 0;
}
$node->safe_psql('postgres', q{SELECT mq.send('n', '{}')});
ok(hear('mq.n'), 'a notify queue NOTIFYs after a send');
$listener->quit;

# a waiting reader whose poll interval (10 s) is longer than its wait (8 s):
# only the commit's wakeup brings it the message
$node->safe_psql('postgres', q{SELECT count(*) FROM mq.pop('n', 10)});
my ($rout, $rerr) = ('', '');
my $reader = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', "SET mq.poll_interval = '10s'",
	  '-c', q{SELECT 'got ' || (body->>'n') FROM mq.read('n', 1, '1 minute', wait => '8 seconds')} ],
	'>', \$rout, '2>', \$rerr);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%mq.read(''n''%' AND wait_event = 'Extension' AND pid <> pg_backend_pid()}),
	'a reader waits');
$node->safe_psql('postgres', q{SELECT mq.send('n', '{"n": 2}')});
$reader->finish;
is($rout, "got 2\n", 'a waiting reader is woken by the commit');

# the readable ends for standbys are written after an append, worker asleep
my $sid = $node->safe_psql('postgres', q{SELECT stream_id FROM mq._stream WHERE stream_name = 's'});
# (the sum over the partitions of the greatest end written)
my $ends = qq{SELECT coalesce(sum(e), 0) FROM (SELECT max(end_position) AS e
	FROM mq._stream_end WHERE stream_id = $sid GROUP BY partition) p};
my $end = $node->safe_psql('postgres', $ends);
$node->safe_psql('postgres', q{SELECT mq.append('s', '{"n": 2}')});
ok($node->poll_query_until('postgres', "SELECT ($ends) > $end"),
	'the readable end moved by an append is written for standbys');

# by the time the TTL and the lease run out (100 s after they were made),
# the worker has gone back to sleep: the commits above woke it for a few
# rounds and one more when they had settled (at most 61 s after the last),
# then it sleeps until the next deadline.  Nothing but its reckoning wakes
# it for them (mq.worker_max_sleep is an hour)
$listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN "mq.dlq"');
ok($node->poll_query_until('postgres',
	"SELECT expired = 1 AND queue_length = 0 FROM mq.metrics('short_ttl')"),
	'a message expires at its TTL while the worker sleeps');
ok($node->poll_query_until('postgres',
	"SELECT dead_lettered = 1 AND queue_length = 0 FROM mq.metrics('short_poison')"),
	'a message read too often is dead-lettered when its lease ends');
ok(hear('mq.dlq'), 'the dead-letter queue NOTIFYs the move');

$listener->quit;
$node->stop;
done_testing();
