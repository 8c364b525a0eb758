# Through PgBouncer in transaction pooling mode: sends, reads and acks
# work, and a reader blocked in mq.read(wait => ...) is woken by another
# client's commit (shared-memory latches, not LISTEN, which transaction
# pooling cannot carry).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $pgbouncer = '/usr/sbin/pgbouncer';
plan skip_all => 'pgbouncer is not installed' unless -x $pgbouncer;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
});
$node->start;
# the server connections PgBouncer opens poll only every 10 s (the most
# there is): a reader that comes back sooner was woken by the commit
$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('pb');
	ALTER DATABASE postgres SET mq.poll_interval = '10s';
});

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $dir = PostgreSQL::Test::Utils::tempdir;
my $user = $ENV{USER} || getpwuid($<);
my $host = $node->host;
my $server_port = $node->port;
open my $conf, '>', "$dir/pgbouncer.ini" or die $!;
print $conf <<"INI";
[databases]
postgres = host=$host port=$server_port dbname=postgres user=$user

[pgbouncer]
listen_addr =
listen_port = $port
unix_socket_dir = $dir
auth_type = any
pool_mode = transaction
default_pool_size = 4
max_client_conn = 20
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
close $conf;
my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ],
	'>', \my $bout, '2>', \my $berr);

# psql through PgBouncer.  libpq from 19 on asks for protocol 3.2 by
# default, which PgBouncer before 1.24 refuses: ask for 3.0 (older libpq
# ignores the variable)
$ENV{PGMAXPROTOCOLVERSION} = '3.0';
my $connstr = "host=$dir port=$port dbname=postgres user=$user";
sub via_bouncer
{
	my ($sql) = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ 'psql', '-XAtq', '-d', $connstr, '-c', $sql ],
		'>', \$stdout, '2>', \$stderr);
	chomp $stdout if defined $stdout;
	return ($stdout, $stderr);
}
my $up = 0;
foreach (1 .. 100)
{
	my ($out) = via_bouncer('SELECT 1');
	last if ($up = (defined $out && $out eq '1'));
	select(undef, undef, undef, 0.1);
}
ok($up, 'PgBouncer accepts connections')
  or diag((via_bouncer('SELECT 1'))[1]);

my ($out, $err) = via_bouncer(q{SELECT current_setting('mq.poll_interval')});
is($out, '10s', 'the pooled server connections poll every 10 s');

($out, $err) = via_bouncer(q{SELECT mq.send('pb', '{"n": 1}') > 0});
is($out, 't', 'a send through PgBouncer');
($out, $err) = via_bouncer(q{SELECT msg_id || ':' || (body->>'n') FROM mq.read('pb', 1, '30 s')});
like($out, qr/^\d+:1$/, 'a read through PgBouncer');
my ($id) = split /:/, $out;
($out, $err) = via_bouncer(qq{SELECT mq.ack('pb', ${id}::bigint)});
is($out, 't', 'an ack through PgBouncer');

# a blocked reader, through PgBouncer, woken by another client's commit
my ($rout, $rerr) = ('', '');
my $reader = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $connstr, '-c',
	  q{SELECT 'got ' || (body->>'n') FROM mq.read('pb', 1, '1 minute', wait => '60 seconds')} ],
	'>', \$rout, '2>', \$rerr);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%mq.read(''pb''%' AND wait_event = 'Extension'
	AND pid <> pg_backend_pid()}),
	'a reader waits through PgBouncer');
my $start = time();
($out, $err) = via_bouncer(q{SELECT mq.send('pb', '{"n": "woken"}') > 0});
is($out, 't', 'another client sends through PgBouncer');
$reader->finish;
is($rout, "got woken\n", 'the commit wakes the reader with its message');
is($rerr, '', 'the reader had no error');
cmp_ok(time() - $start, '<', 5, 'woken by the commit, not by polling (10 s)');

$bouncer->signal('TERM');
$bouncer->finish;
$node->stop;
done_testing();
