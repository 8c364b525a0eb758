# Automatic failover under pg_auto_failover (README "High availability",
# doc/high-availability.md): a monitor, a primary and a synchronous standby,
# all managed by pg_autoctl, with mq preloaded on both data nodes.  Clients
# (test/failover/ledger.py: two producers on replicated queues and one on a
# local queue, three consumers that lease and ack, an appender to a
# replicated stream and a consumer-group member that polls and commits)
# connect with a multi-host connection string and
# target_session_attrs=read-write while the primary's postmaster is killed
# (the keeper starts it again; with the short timeouts set here the monitor
# may fail over meanwhile, and either is right), then the whole
# primary node is killed (kill -9 of the postmaster and its keeper: the
# monitor promotes the standby), then the new primary is stopped (promoted
# back).  Nobody promotes by hand; the clients reconnect by themselves; the
# killed and the stopped node rejoin as standbys.  The ledger shows no
# committed send lost, no ack or stream commit undone, no message leased to
# two holders while its lease holds, dense stream positions; and on the new
# primary the workers run the timed work (TTL, dead letters), a delayed
# message becomes visible, and the group goes on from its committed position.
#
# Needs pg_auto_failover for this PostgreSQL (Debian's
# postgresql-15-auto-failover and pg-auto-failover-cli): skipped without.
#
# MQ_FAILOVER_DEFECT=async puts a defect back: the queues and the stream
# are 'local' and the producers commit with synchronous_commit = off, so a
# send whose commit returned may be lost by the failover (the ledger says so).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Path qw(make_path);
use Time::HiRes qw(usleep);
use IPC::Run;
use FindBin;

my $bindir = `pg_config --bindir`;
my $pkglibdir = `pg_config --pkglibdir`;
chomp($bindir, $pkglibdir);
my ($major) = `pg_config --version` =~ /PostgreSQL (\d+)/;
my $python = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
my $autoctl = `command -v pg_autoctl 2>/dev/null`;
chomp $autoctl;
if (!-f "$pkglibdir/pgautofailover.so" || !$autoctl)
{
	plan skip_all => "pg_auto_failover is not installed for PostgreSQL $major "
	  . "(Debian: postgresql-$major-auto-failover and pg-auto-failover-cli)";
}
if (system("$python -c 'import psycopg' 2>/dev/null") != 0)
{
	plan skip_all => "$python has no psycopg (Debian: python3-psycopg)";
}
my $defect = $ENV{MQ_FAILOVER_DEFECT} // '';

# MQ_FAILOVER_DIR keeps the nodes' files and logs there (to debug)
my $base = $ENV{MQ_FAILOVER_DIR} // PostgreSQL::Test::Utils::tempdir();
make_path($base);
my $ledger_py = "$FindBin::RealBin/../failover/ledger.py";
$ledger_py = 'test/failover/ledger.py' unless -f $ledger_py;
# pg_autoctl keeps its configuration, state and pid files under these
$ENV{HOME} = $base;
$ENV{XDG_CONFIG_HOME} = "$base/config";
$ENV{XDG_DATA_HOME} = "$base/share";
$ENV{XDG_RUNTIME_DIR} = "$base/run";
make_path("$base/config", "$base/share", "$base/run");
delete @ENV{qw(PGHOST PGPORT PGDATABASE PGUSER PGOPTIONS)};

my $mport = PostgreSQL::Test::Cluster::get_free_port();
my %port = (a => PostgreSQL::Test::Cluster::get_free_port(),
	b => PostgreSQL::Test::Cluster::get_free_port());
my $monitor_url = "postgres://autoctl_node\@127.0.0.1:$mport/pg_auto_failover?sslmode=disable";
my %pgid;	# node => process group of its pg_autoctl run (and postmaster)

sub run_ok
{
	my ($what, @cmd) = @_;
	my $ok = system(@cmd) == 0;
	ok($ok, $what) or BAIL_OUT("$what failed: @cmd (logs in $base)");
}

# pg_autoctl run in its own session: its process group is the node
sub start_node
{
	my ($name) = @_;
	system("setsid sh -c 'echo \$\$ > $base/$name.pgid; exec $autoctl run --pgdata $base/$name' "
		  . ">> $base/$name.log 2>&1 &");
	for (1 .. 100)
	{
		last if -s "$base/$name.pgid";
		usleep(100_000);
	}
	$pgid{$name} = slurp_file("$base/$name.pgid");
	chomp $pgid{$name};
}

sub node_gone
{
	my ($name) = @_;
	return !kill(0, -$pgid{$name});
}

sub psql_at
{
	my ($port, $db, $sql, $user) = @_;
	$user //= 'postgres';
	my $out = `psql -XAtq -h 127.0.0.1 -p $port -U $user -d $db -c "$sql" 2>/dev/null`;
	chomp $out;
	return $out;
}

# "a:primary:primary b:secondary:secondary": reported and assigned states
sub states
{
	return psql_at($mport, 'pg_auto_failover',
		"SELECT string_agg(nodename || ':' || reportedstate || ':' || goalstate, ' ' ORDER BY nodename) FROM pgautofailover.node",
		'autoctl_node');
}

sub wait_states
{
	my ($want, $what) = @_;
	my $s = '';
	foreach (1 .. 1800)
	{
		$s = states();
		last if $s =~ $want;
		usleep(100_000);
	}
	like($s, $want, $what);
	return $s;
}

sub primary_of
{
	my ($s) = @_;
	return $s =~ /(\w+):primary:primary/ ? $1 : undef;
}

END
{
	# stop whatever this test started, also when it bails out
	foreach my $name (keys %pgid)
	{
		kill('KILL', -$pgid{$name}) if $pgid{$name};
	}
}

# the monitor, with health checks that notice a dead node within seconds
run_ok('pg_autoctl create monitor',
	"$autoctl create monitor --pgdata $base/monitor --pgport $mport --hostname 127.0.0.1 "
	  . "--auth trust --no-ssl --pgctl $bindir/pg_ctl > $base/monitor.create.log 2>&1");
system("$autoctl config set --pgdata $base/monitor postgresql.listen_addresses 127.0.0.1 >/dev/null 2>&1");
start_node('monitor');
my $ready = 0;
foreach (1 .. 300)
{
	$ready = 1, last if psql_at($mport, 'pg_auto_failover', 'SELECT 1', 'autoctl_node') eq '1';
	usleep(100_000);
}
ok($ready, 'the monitor runs');
system("psql -XAtq -h 127.0.0.1 -p $mport -d pg_auto_failover -U postgres "
	  . "-c \"ALTER SYSTEM SET pgautofailover.health_check_period = 1000\" "
	  . "-c \"ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000\" "
	  . "-c \"ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1\" "
	  . "-c \"ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500\" "
	  . "-c \"ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000\" "
	  . "-c \"ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000\" "
	  . "-c \"SELECT pg_reload_conf()\" >/dev/null");

# node a: our own initdb with mq preloaded (the standby's base backup
# copies the configuration); pg_autoctl makes it the primary
run_ok('initdb a',
	"initdb -D $base/a -U postgres -A trust -E UTF8 --locale=C.UTF-8 > $base/a.initdb.log 2>&1");
append_to_file("$base/a/postgresql.conf", qq{
shared_preload_libraries = 'mq'
mq.maintenance_interval = '200ms'
max_connections = 50
});
foreach my $name ('a', 'b')
{
	run_ok("pg_autoctl create postgres $name",
		"$autoctl create postgres --pgdata $base/$name --pgport $port{$name} --listen 127.0.0.1 "
		  . "--hostname 127.0.0.1 --name $name --auth trust --no-ssl --pgctl $bindir/pg_ctl "
		  . "--username postgres --dbname postgres --monitor '$monitor_url' "
		  . "> $base/$name.create.log 2>&1");
	start_node($name);
	wait_states($name eq 'a' ? qr/^a:single:single$/ : qr/^a:primary:primary b:secondary:secondary$/,
		$name eq 'a' ? 'a runs alone' : "b is a's synchronous standby");
}
is(psql_at($port{a}, 'postgres', 'SHOW synchronous_standby_names'), 'ANY 1 (pgautofailover_standby_2)',
	'pg_auto_failover made b synchronous');
is(psql_at($port{b}, 'postgres', 'SHOW shared_preload_libraries'), 'mq', 'mq is preloaded on b too');

my $durability = $defect eq 'async' ? 'local' : 'replicated';
my $setup = qq{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('fq0', durability => '$durability');
	SELECT mq.create_queue('fq1', durability => '$durability');
	SELECT mq.create_queue('fq2');
	SELECT mq.create_stream('fs', partitions => 2, durability => '$durability');
	SELECT mq.create_consumer_group('fs', 'fg', 'earliest');
	SELECT mq.create_queue('ttl', message_ttl => '30 s', durability => 'replicated');
	SELECT mq.create_queue('dlq', durability => 'replicated');
	SELECT mq.create_queue('dl_src', max_receives => 1, dead_letter_queue => 'dlq',
		durability => 'replicated');
	SELECT mq.create_queue('delayed', durability => 'replicated');
};
$setup =~ s/\s+/ /g;
is(system("psql -XAtq -h 127.0.0.1 -p $port{a} -U postgres -d postgres -v ON_ERROR_STOP=1 "
	  . "-c \"$setup\" >/dev/null"), 0, 'queues, a stream and a consumer group on the primary');

# the clients, with both nodes in their connection string
my $conninfo = "host=127.0.0.1,127.0.0.1 port=$port{a},$port{b} dbname=postgres user=postgres "
  . "target_session_attrs=read-write connect_timeout=2";
my $ledger = "$base/ledger";
my @client = ($python, $ledger_py, 'run', '--conninfo', $conninfo, '--ledger', $ledger,
	'--stop', "$base/stop");
push @client, '--producer-sync-commit', 'off' if $defect eq 'async';
my $clients = IPC::Run::start(\@client, '>', "$base/clients.log", '2>&1');

# events of a kind in the ledger so far
sub count_ev
{
	my ($ev) = @_;
	my $n = 0;
	foreach my $f (glob("$ledger/*.jsonl"))
	{
		open(my $fh, '<', $f) or next;
		while (my $line = <$fh>) { $n++ if $line =~ /"ev": "$ev"/; }
		close $fh;
	}
	return $n;
}

# the clients make progress: each kind of event grows by some
sub progress
{
	my ($what, @evs) = @_;
	my %before = map { $_ => count_ev($_) } @evs;
	my @late;
	foreach (1 .. 1800)
	{
		@late = grep { count_ev($_) < $before{$_} + 20 } @evs;
		last unless @late;
		usleep(100_000);
	}
	is("@late", '', "$what: clients make progress (@evs)");
}
progress('at the start', qw(sent lease ack appended polled));

# 1. kill -9 of the primary's postmaster: its keeper starts it again
my $pm = (split /\n/, slurp_file("$base/a/postmaster.pid"))[0];
kill('KILL', $pm);
my $restarted = 0;
foreach (1 .. 1800)
{
	my $pidfile = -f "$base/a/postmaster.pid" ? slurp_file("$base/a/postmaster.pid") : '';
	my ($now) = $pidfile =~ /^(\d+)/;
	$restarted = 1, last if $now && $now != $pm && $pidfile =~ /\bready\s*$/m;
	usleep(100_000);
}
ok($restarted, 'after a kill -9 of its postmaster, the keeper starts the primary again');
# (the monitor may have seen it down and failed over meanwhile: either way)
wait_states(qr/:primary:primary .*:secondary:secondary$|:secondary:secondary .*:primary:primary$/,
	'a primary and a synchronous standby again');
progress('after the postmaster\'s kill -9', qw(sent lease ack appended polled));

# 2. the whole primary node dies (postmaster and keeper, kill -9), right
# after messages whose timed work must happen on the node promoted
my $old = primary_of(states());
my $new = $old eq 'a' ? 'b' : 'a';
is(system("psql -XAtq -h 127.0.0.1 -p $port{$old} -U postgres -d postgres -v ON_ERROR_STOP=1 "
	  . "-c \"SELECT count(mq.send('ttl', jsonb_build_object('n', i))) FROM generate_series(1, 3) i\" "
	  . "-c \"SELECT mq.send('dl_src', '{\\\"dead\\\": 1}')\" "
	  . "-c \"SELECT count(*) FROM mq.read('dl_src', 1, '25 s')\" "
	  . "-c \"SELECT mq.send('delayed', '{\\\"late\\\": 1}', delay => '30 s')\" >/dev/null"), 0,
	'messages with a TTL, a lease ending in a dead letter, a delayed one: all due after the kill');
kill('KILL', -$pgid{$old});
foreach (1 .. 600) { last if node_gone($old); usleep(100_000); }
ok(node_gone($old), "node $old is killed (kill -9 of its keeper and postmaster)");
wait_states(qr/$new:(wait_primary|primary):(wait_primary|primary)/,
	"the monitor promotes $new, with no hand step");
is(psql_at($port{$new}, 'postgres', 'SELECT pg_is_in_recovery()'), 'f', "$new is the primary");
progress("with $new alone", qw(sent lease ack));
if ($defect ne 'async')
{
	my $refused = count_ev('failed", "what": "send", "state": "53000');
	my $more = 0;
	foreach (1 .. 1800)
	{
		$more = 1, last if count_ev('failed", "what": "send", "state": "53000') > $refused;
		usleep(100_000);
	}
	ok($more, "while $new is alone, replicated sends are refused (53000), not kept in one copy");
}
ok(poll_new('SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = \'mq worker\' AND datname = \'postgres\'', 't'),
	"the mq worker runs on $new");

# the killed node comes back: pg_autoctl rewinds it and makes it a standby
start_node($old);
wait_states(qr/$new:primary:primary/, "$old rejoins and $new has a synchronous standby again");
wait_states(qr/$old:secondary:secondary/, "$old is a secondary");
is(psql_at($port{$old}, 'postgres', 'SELECT pg_is_in_recovery()'), 't', "$old is in recovery");
progress("after $old rejoined", qw(sent lease ack appended polled));

sub poll_new
{
	my ($sql, $want) = @_;
	foreach (1 .. 1800)
	{
		return 1 if psql_at($port{$new}, 'postgres', $sql) eq $want;
		usleep(100_000);
	}
	return 0;
}
ok(poll_new(q{SELECT queue_length FROM mq.metrics('ttl')}, '0'),
	"the worker on $new expires the messages whose TTL ran out there");
ok(poll_new(q{SELECT (SELECT queue_length FROM mq.metrics('dl_src')) || ',' || (SELECT queue_length FROM mq.metrics('dlq'))},
		'0,1'),
	"the worker on $new dead-letters the message whose lease ended there");
ok(poll_new(q{SELECT count(*) FROM mq.read('delayed', 1, '1 min') WHERE body->>'late' = '1'}, '1'),
	"the delayed message becomes visible on $new");
is(psql_at($port{$old}, 'postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'mq%'"), '0',
	"no mq worker on the standby $old");

# 3. the new primary is stopped (pg_autoctl stop): back to the first
($old, $new) = ($new, $old);
run_ok("pg_autoctl stop $old", "$autoctl stop --pgdata $base/$old >> $base/$old.log 2>&1");
foreach (1 .. 600) { last if node_gone($old); usleep(100_000); }
ok(node_gone($old), "node $old is stopped");
wait_states(qr/$new:(wait_primary|primary):(wait_primary|primary)/,
	"the monitor promotes $new back, with no hand step");
progress("with $new alone", qw(sent lease ack));
start_node($old);
wait_states(qr/$old:secondary:secondary/, "the stopped $old rejoins as a secondary");
wait_states(qr/$new:primary:primary/, "$new is the primary with a synchronous standby");
progress("after the second failover", qw(sent lease ack appended polled));
ok(poll_new("SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = 'postgres'", 't'),
	"the mq worker runs on $new again");

# stop the clients; once every lease ended, check the ledger on the primary
append_to_file("$base/stop", '');
$clients->finish;
sleep 5;
my $check_conninfo = "host=127.0.0.1 port=$port{$new} dbname=postgres user=postgres";
my $both = `$python $ledger_py check --conninfo '$check_conninfo' --ledger $ledger --inject`;
my ($out) = $both =~ /^ledger: (.*)$/m;
my ($injected) = $both =~ /^injected: (.*)$/m;
$out //= '';
$injected //= '';
note "ledger: $out";

# the checks can fail: each fabricated violation is caught
foreach my $k (qw(lost refused_present overlaps acks_undone appends_lost commits_undone))
{
	like($injected, qr/"$k": \[[^\]]/, "the ledger check catches an injected $k");
}

my %r;
foreach my $k (qw(sent leases acks appends polls reconnects))
{
	($r{$k}) = $out =~ /"$k": (\d+)/;
	cmp_ok($r{$k} // 0, '>', 10, "the clients did it: $k");
}
foreach my $k (qw(lost refused_present overlaps acks_undone appends_lost positions_not_dense
	commits_undone poll_gaps))
{
	like($out, qr/"$k": \[\]/, "ledger: no $k");
}
like($out, qr/"ports": \[$port{a}, $port{b}\]|"ports": \[$port{b}, $port{a}\]/,
	'the clients reached both nodes through one connection string');

# the standby has it all too
my $final = psql_at($port{$new}, 'postgres',
	"SELECT sum(queue_length) FROM mq.metrics_all()");
foreach (1 .. 300)
{
	last if psql_at($port{$old}, 'postgres', "SELECT sum(queue_length) FROM mq.metrics_all()") eq $final;
	usleep(100_000);
}
is(psql_at($port{$old}, 'postgres', "SELECT sum(queue_length) FROM mq.metrics_all()"), $final,
	'the standby has the same queues');

foreach my $name ('a', 'b', 'monitor')
{
	system("$autoctl stop --pgdata $base/$name >/dev/null 2>&1");
}
foreach my $name ('a', 'b', 'monitor')
{
	foreach (1 .. 300) { last if node_gone($name); usleep(100_000); }
}
done_testing();
