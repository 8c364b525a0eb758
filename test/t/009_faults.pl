# Fault tests with client-side ledgers.  Producers send (and publish
# through an exchange into a FIFO queue with groups) one message per
# transaction and write down each send whose commit returned; consumers
# read and ack and write down each ack whose commit returned; a killer
# terminates random consumer backends mid-work.  Then (a) kill -9 of the
# postmaster, three rounds, and (b) kill -9 of the primary and promotion of
# its synchronous standby.  After each:
#   - every committed send is in its queue (or its dead-letter queue), or
#     was acked;
#   - no message whose ack committed is back;
#   - nothing that never committed exists (no rolled-back send, no message
#     the producers did not send);
#   - no message is stored twice.
# A call cut by a crash is "in doubt" (its commit may or may not have
# happened before the connection broke): at most one per process, and the
# checks allow exactly that one either way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Temp qw(tempfile);
use Time::HiRes qw(usleep time);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = '200ms'
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('jobs_dlq');
	SELECT mq.create_queue('jobs', max_receives => 3, dead_letter_queue => 'jobs_dlq');
	SELECT mq.create_queue('fq', fifo => true);
	SELECT mq.create_exchange('ex', 'topic');
	SELECT mq.bind('ex', 'fq', 'orders.#');
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = '*'});
$primary->reload;
ok($primary->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_replication WHERE sync_state = 'sync'}),
	'the standby is synchronous');

my %sent;		# "p i" => queue: the commit returned
my %maybe_sent;	# "p i" => queue: in doubt
my %acked;		# "p i": the ack's commit returned
my %maybe_acked;	# "p i": read, and its ack in doubt
my $rounds = 0;
my $next_producer = 0;

# A producer: one call per transaction; it prints "s p i" once the commit
# of send number i returned; every 7th call also sends in a transaction
# that rolls back.
sub producer_script
{
	my ($p, $from) = @_;
	my ($fh, $name) = tempfile();
	for my $i ($from .. $from + 3000)
	{
		if ($i % 3 == 0)
		{
			my $g = $i % 5;
			print $fh qq{SELECT 's $p $i fq' FROM mq.publish('ex', 'orders.$g', '{"p": $p, "i": $i}', group_key => 'g$g') n WHERE n = 1;\n};
		}
		else
		{
			print $fh qq{SELECT 's $p $i jobs' FROM mq.send('jobs', '{"p": $p, "i": $i}') id WHERE id > 0;\n};
		}
		print $fh qq{BEGIN;\n\\o /dev/null\nSELECT mq.send('jobs', '{"rolled_back": true}');\n\\o\nROLLBACK;\n}
		  if $i % 7 == 0;
	}
	close $fh;
	return $name;
}

# A consumer: reads one message of jobs or fq (in turn), prints "r q p i"
# once the lease committed and "a q p i" once the ack committed; every 4th
# message it does not ack (its lease of 2 s runs out and it comes back,
# into jobs_dlq after 3 reads).
sub consumer_script
{
	my ($fh, $name) = tempfile();
	for my $n (1 .. 4000)
	{
		my $q = $n % 2 ? 'jobs' : 'fq';
		print $fh qq{SELECT count(*) > 0 AS got, max(msg_id) AS id, max(body->>'p') AS p, max(body->>'i') AS i FROM mq.read('$q', 1, '2 s') \\gset
\\if :got
\\echo r $q :p :i
};
		print $fh qq{SELECT 'a $q ' || :'p' || ' ' || :'i' WHERE mq.ack('$q', :id);\n}
		  if $n % 4;
		print $fh "\\endif\n";
	}
	close $fh;
	return $name;
}

sub start_process
{
	my ($node, $kind, $script, $p) = @_;
	my $proc = { kind => $kind, out => '', err => '', p => $p };
	local $ENV{PGAPPNAME} = $kind;
	$proc->{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $script ],
		'>', \$proc->{out}, '2>', \$proc->{err});
	return $proc;
}

sub start_producer
{
	my ($node, $p) = @_;
	# each producer run starts past every number an earlier run used
	my $from = $next_producer;
	$next_producer += 4000;
	my $proc = start_process($node, 'producer', producer_script($p, $from), $p);
	$proc->{from} = $from;
	return $proc;
}

# Fold a finished (or killed) process's output into the ledgers.
sub settle
{
	my ($proc) = @_;
	my @lines = split /\n/, $proc->{out};
	pop @lines unless $proc->{out} =~ /\n\z/;	# a line cut by the kill
	if ($proc->{kind} eq 'producer')
	{
		my $last = $proc->{from} - 1;
		foreach (@lines)
		{
			next unless /^s (\d+) (\d+) (\w+)$/;
			$sent{"$1 $2"} = $3;
			$last = $2;
		}
		# the call after the last recorded one may have committed
		my $i = $last + 1;
		$maybe_sent{"$proc->{p} $i"} = $i % 3 == 0 ? 'fq' : 'jobs';
	}
	else
	{
		my $open;
		foreach (@lines)
		{
			if (/^r (\w+) (\d+) (\d+)$/) { $open = "$2 $3"; }
			elsif (/^a (\w+) (\d+) (\d+)$/) { $acked{"$2 $3"} = 1; $open = undef; }
		}
		# read but not acked when it ended: the ack may have committed
		$maybe_acked{$open} = 1 if defined $open;
	}
}

# Every stored message of queue q on node: "p i" => count, and the number
# of rolled-back sends found.
sub stored
{
	my ($node, @queues) = @_;
	my %have;
	my $rolled_back = 0;
	foreach my $q (@queues)
	{
		my $rows = $node->safe_psql('postgres', qq{
			SELECT coalesce(body->>'p', 'rb') || ' ' || coalesce(body->>'i', '')
			FROM mq.q_$q m});
		foreach (split /\n/, $rows)
		{
			if (/^rb/) { $rolled_back++; next; }
			$have{$_}++;
		}
	}
	return (\%have, $rolled_back);
}

# The queue ids (the tables are mq.q_<id>).
sub queue_id
{
	my ($node, $name) = @_;
	return $node->safe_psql('postgres',
		"SELECT queue_id FROM mq._queue WHERE queue_name = '$name'");
}

# Run the load for $seconds, then call $fault->().
sub round
{
	my ($node, $seconds, $fault) = @_;
	my @procs = (map({ start_producer($node, $_) } 1 .. 2),
		map({ start_process($node, 'consumer', consumer_script()) } 1 .. 3));
	my $end = time() + $seconds;
	my $kills = 0;
	while (time() < $end)
	{
		usleep(150_000);
		$kills += $node->safe_psql('postgres', q{
			SELECT count(pg_terminate_backend(pid)) FROM (
				SELECT pid FROM pg_stat_activity
				WHERE application_name = 'consumer' ORDER BY random() LIMIT 1) c});
		foreach my $proc (@procs)
		{
			$proc->{h}->pump_nb;
			next if $proc->{h}->pumpable;
			$proc->{h}->finish;
			settle($proc);
			$proc = $proc->{kind} eq 'producer'
			  ? start_producer($node, $proc->{p})
			  : start_process($node, 'consumer', consumer_script());
		}
	}
	$fault->();
	foreach my $proc (@procs)
	{
		$proc->{h}->finish;
		settle($proc);
	}
	return $kills;
}

sub restart_after_kill9
{
	my ($node) = @_;
	my $started = 0;
	foreach (1 .. 300)
	{
		last if ($started = $node->start(fail_ok => 1));
		$node->{_pid} = undef;
		usleep(100_000);
	}
	return $started;
}

# The checks on node; $what names the fault.
sub check
{
	my ($node, $what) = @_;
	my @jobs = (queue_id($node, 'jobs'), queue_id($node, 'jobs_dlq'));
	my ($have_jobs, $rb1) = stored($node, @jobs);
	my ($have_fq, $rb2) = stored($node, queue_id($node, 'fq'));
	my %have = (%$have_jobs, %$have_fq);
	my (@lost, @back, @never, @twice);
	foreach my $k (keys %sent)
	{
		push @lost, $k unless $have{$k} || $acked{$k} || $maybe_acked{$k};
	}
	foreach my $k (keys %acked)
	{
		push @back, $k if $have{$k};
	}
	foreach my $k (keys %have)
	{
		push @never, $k unless $sent{$k} || $maybe_sent{$k};
		push @twice, $k if $have{$k} > 1 || ($have_jobs->{$k} && $have_fq->{$k});
	}
	my $dlq = $node->safe_psql('postgres',
		q{SELECT queue_length FROM mq.metrics('jobs_dlq')});
	is(scalar(@lost), 0, "$what: every committed send is stored or was acked")
	  or diag("lost: @lost[0 .. ($#lost < 9 ? $#lost : 9)]");
	is(scalar(@back), 0, "$what: no message whose ack committed is back")
	  or diag("back: @back[0 .. ($#back < 9 ? $#back : 9)]");
	is(scalar(@never) + $rb1 + $rb2, 0, "$what: nothing that never committed exists")
	  or diag("never sent: @never; rolled back: " . ($rb1 + $rb2));
	is(scalar(@twice), 0, "$what: no message is stored twice")
	  or diag("twice: @twice");
	note(sprintf("%s: %d committed sends, %d committed acks, %d stored (%d dead letters), lost: %d",
		$what, scalar(keys %sent), scalar(keys %acked), scalar(keys %have), $dlq, scalar(@lost)));
	return (scalar(keys %sent), scalar(keys %acked), scalar(@lost));
}

my ($sends, $acks, $lost, $kills) = (0, 0, 0, 0);
foreach my $r (1 .. 3)
{
	$kills += round($primary, 2.5, sub { $primary->kill9; });
	ok(restart_after_kill9($primary), "round $r: the primary restarts after kill -9");
	($sends, $acks, $lost) = check($primary, "round $r (kill -9)");
	$rounds++;
}

# failover: kill -9 of the primary, promotion of the synchronous standby
$kills += round($primary, 2.5, sub { $primary->kill9; });
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'the standby is promoted');
($sends, $acks, $lost) = check($standby, 'failover');
$rounds++;
cmp_ok($sends, '>', 200, 'the producers committed sends');
cmp_ok($acks, '>', 100, 'the consumers committed acks');
cmp_ok($kills, '>', 10, 'consumer backends were killed mid-work');

# the figures, for the test command's output
diag(sprintf("fault tests: %d rounds (3 kill -9, 1 failover), %d committed sends and %d committed acks checked, %d consumer backends killed, lost: %d",
	$rounds, $sends, $acks, $kills, $lost));

$standby->stop;
done_testing();
