/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  A database's background worker, doing its timed work.
 *
 * The launcher (worker_launcher.c) starts an "mq worker" for a database
 * when it needs one, from a pool of mq.max_workers for all databases.  A
 * worker connects to its database, and leaves at once if the extension is
 * not there (a CREATE EXTENSION brings one back at its commit, and DROP
 * EXTENSION makes the worker leave).  It leaves too when its database has
 * been idle for mq.worker_idle_timeout, or when the launcher asks it to
 * make way for other databases (see may_leave()), leaving when its
 * database next needs a worker (worker_slot.c).
 *
 * A worker's work, and when it does it ("idle means asleep": a worker with
 * nothing to do sleeps on its latch, with no fixed-interval wakeups):
 *	- NOTIFYs that commits queued for its database (wait.c), one per queue
 *	  at most, and the streams' readable ends that moved, written into
 *	  mq._stream_end for standbys (stream_standby.c).  The commit that
 *	  queued a NOTIFY or moved an end (an append's commit or rollback)
 *	  sets the worker's latch (worker_slot.c), and the worker sends or
 *	  writes at once, but at most once per mq.notify_interval: a burst of
 *	  commits still gives one NOTIFY per queue per interval.
 *	- Maintenance, unless mq.maintenance_interval is 0: mq.maintain() (dead
 *	  letters, TTL expiry, archive retention, dedup-key pruning), then
 *	  mq._maintain_streams() (segments opened and dropped, ends pruned,
 *	  commit tables folded), then compaction of bloated queue tables.  A
 *	  commit that wrote while it used a queue or a stream sets the latch
 *	  too (it may have made a deadline earlier: a send to a queue with a
 *	  TTL, a lease where max_receives counts, an alter), and while such
 *	  commits come the worker runs a round every mq.maintenance_interval,
 *	  as it always did.  The first round after none came reckons what is
 *	  due next (mq._next_due(): the earliest message expiry or lease end
 *	  that dead-letters, archive retention, dedup keys, a stream's segment
 *	  to open or drop), and the worker sleeps until then, or until a
 *	  compaction passed over may be tried again, or until the round after
 *	  the activity has settled (its statistics, which name the compaction
 *	  candidates, and the fold of the commit table it wrote in: see
 *	  aftermath()), but never longer than mq.worker_max_sleep (a safety net
 *	  for changes no commit announces, such as a prepared transaction's)
 *	  and never less than mq.maintenance_interval.  So timed work is done
 *	  within the interval of its deadline, as when the worker polled.
 * What the worker did last and when it wakes next are in its slot, for
 * mq.workers.  Messages that become visible by time need no worker: a
 * waiting reader looks again every mq.poll_interval, and NOTIFYs are only
 * sent for commits.
 * Each unit of work is its own transaction; an error is logged and the
 * loop goes on.  SIGHUP reloads the configuration, SIGTERM ends the worker.
 * The postmaster never restarts a worker (a worker of a dropped database
 * would fail for ever); the launcher starts a new one MQ_RESTART_SECONDS
 * after it saw the old one stop, if the database is still there.
 *
 * A worker stays connected, which would make DROP DATABASE, ALTER DATABASE
 * RENAME or SET TABLESPACE, and CREATE DATABASE ... TEMPLATE of its database
 * fail with "database is being accessed by other users".  So each worker
 * notes its pid and database in shared memory, and a utility hook asks the
 * workers of a database to leave (SIGTERM) before such a command, when the
 * user owns that database.  The command itself waits up to 5 seconds for
 * other sessions to end, and a worker started meanwhile blocks on the
 * database's lock until the command is over.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "queue_compact.h"
#include "compat.h"
#include "guc.h"
#include "spi.h"
#include "wait.h"
#include "stream.h"
#include "worker.h"
#include "worker_slot.h"

PGDLLEXPORT void mq_worker_main(Datum main_arg);

/* a standby's worker (not started there normally) looks again this often */
#define MQ_STANDBY_LOOK_MS 5000

/*
 * Ask the workers serving the named database to leave, if the current user
 * owns it, so that a command that needs the database to itself can run.
 */
static void
make_way(const char *dbname)
{
	Oid			dboid;
	pid_t		pids[8];
	int			npids;
	int			i;

	if (dbname == NULL)
		return;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId)
		return;
	if (!mq_database_ownercheck(dboid, GetUserId()))
		return;

	npids = mq_worker_slot_pids(dboid, pids, lengthof(pids));

	for (i = 0; i < npids; i++)
	{
		elog(DEBUG1, "asking mq worker %d to leave database \"%s\"",
			 (int) pids[i], dbname);
		(void) kill(pids[i], SIGTERM);
	}
}

/* The value of option name in a list of DefElems, or NULL. */
static const char *
option_string(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, name) == 0 && opt->arg != NULL)
			return defGetString(opt);
	}
	return NULL;
}

/*
 * From the utility hook (mq.c): before DROP DATABASE, ALTER DATABASE RENAME
 * / SET TABLESPACE, and CREATE DATABASE ... TEMPLATE, the database's workers
 * leave.  (There are workers only when mq is preloaded.)
 */
void
mq_worker_before_utility(Node *parsetree)
{
	if (!mq_worker_slots_available())
		return;
	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			make_way(((DropdbStmt *) parsetree)->dbname);
			mq_launcher_rescan_at_commit();
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				make_way(((RenameStmt *) parsetree)->subname);
			break;
		case T_AlterDatabaseStmt:
			if (option_string(((AlterDatabaseStmt *) parsetree)->options,
							  "tablespace") != NULL)
				make_way(((AlterDatabaseStmt *) parsetree)->dbname);
			/* (ALLOW_CONNECTIONS, IS_TEMPLATE: which databases get workers) */
			mq_launcher_rescan_at_commit();
			break;
		case T_CreatedbStmt:
			make_way(option_string(((CreatedbStmt *) parsetree)->options,
								   "template"));
			mq_launcher_rescan_at_commit();
			break;
		case T_CreateExtensionStmt:
			/* (mq itself, or one that requires it: a worker looks) */
			mq_worker_wake_at_commit();
			break;
		case T_DropStmt:
			/* a DROP EXTENSION mq: the worker leaves */
			if (((DropStmt *) parsetree)->removeType == OBJECT_EXTENSION)
				mq_worker_wake_at_commit();
			break;
		case T_TransactionStmt:
			/* what a prepared transaction wrote may move a deadline */
			if (((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED)
				mq_worker_wake_at_commit_always();
			break;
		default:
			break;
	}
}

/*
 * Run one unit of work in its own transaction.  Returns false when the
 * extension is not (or no longer) installed.  Errors are logged, not fatal;
 * *done (if given) says whether the work committed.
 */
static bool
run_unit(const char *activity, void (*work) (void), bool *done)
{
	volatile bool present = true;
	volatile bool committed = false;
	MemoryContext cxt = CurrentMemoryContext;

	pgstat_report_activity(STATE_RUNNING, activity);
	mq_worker_report_work(activity);
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (!OidIsValid(get_extension_oid("mq", true)))
			present = false;
		else
			work();
		PopActiveSnapshot();
		CommitTransactionCommand();
		committed = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (done != NULL)
		*done = committed;
	return present;
}

/* nothing: run_unit() looks for the extension */
static void
do_nothing(void)
{
}

/*
 * The extension is not here, or no longer: the worker leaves, and the
 * database gets none until a CREATE EXTENSION commits there.
 */
static void
leave_absent(void)
{
	mq_worker_leave(DT_NOEND, true, 0);
	proc_exit(0);
}

static void
do_maintain(void)
{
	int			ret;

	mq_spi_connect();
	ret = SPI_execute("SELECT pg_catalog.count(*) FROM mq.maintain()", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}

/* streams' segments: rotation and retention (0.5.0 on) */
static void
do_maintain_streams(void)
{
	int			ret;
	bool		isnull;

	mq_spi_connect();
	ret = SPI_execute("SELECT pg_catalog.to_regprocedure('mq._maintain_streams()') IS NOT NULL",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		ret = SPI_execute("SELECT mq._maintain_streams()", false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	}
	SPI_finish();
}

/*
 * Compaction of queue tables (queue_compact.c): listed in one transaction, each
 * compacted in one of its own, so that a compaction holds no other lock
 * while it waits for its table's.  The lock is taken without waiting; a
 * table at twice the threshold waits for it up to MQ_COMPACT_WAIT_MS (the
 * sessions that come after the request wait behind it), and a queue whose
 * wait failed waits again only after MQ_COMPACT_BACKOFF_MS: a transaction
 * that holds the queue for long must not stall its other sessions every run.
 * A compaction that failed with an error (its copy over 1 GB, say) is not
 * tried again on that queue for MQ_COMPACT_ERROR_BACKOFF_MS.
 */
#define MQ_COMPACT_WAIT_MS 100
#define MQ_COMPACT_BACKOFF_MS 10000
#define MQ_COMPACT_ERROR_BACKOFF_MS 60000
#define MQ_COMPACT_BACKOFFS 32

static List *compact_ids = NIL;
static List *compact_overdue = NIL;
static int32 compact_current;
static int	compact_wait;
static bool compact_done;
static struct
{
	int32		queue_id;
	TimestampTz until;
	bool		failed;			/* an error: no compaction at all until then */
}			compact_backoff[MQ_COMPACT_BACKOFFS];
static int	compact_backoff_next = 0;

static void
compact_back_off(int32 queue_id, TimestampTz now, bool failed)
{
	compact_backoff[compact_backoff_next].queue_id = queue_id;
	compact_backoff[compact_backoff_next].until =
		TimestampTzPlusMilliseconds(now, failed ? MQ_COMPACT_ERROR_BACKOFF_MS : MQ_COMPACT_BACKOFF_MS);
	compact_backoff[compact_backoff_next].failed = failed;
	compact_backoff_next = (compact_backoff_next + 1) % MQ_COMPACT_BACKOFFS;
}

static void
do_list_compactions(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	compact_ids = mq_compact_candidates(&compact_overdue);
	MemoryContextSwitchTo(old);
}

static void
do_compact_one(void)
{
	compact_done = mq_compact_queue_id(compact_current, compact_wait);
}

/*
 * Compact the candidates; returns when one passed over is due again
 * (DT_NOEND: none), so that an idle worker comes back for it.
 */
static TimestampTz
compact_queues(void)
{
	ListCell   *lc;
	TimestampTz due = DT_NOEND;

	if (mq_compact_threshold <= 0)
		return DT_NOEND;
	if (!run_unit("listing queues to compact", do_list_compactions, NULL))
		return DT_NOEND;
	foreach(lc, compact_ids)
	{
		TimestampTz now = GetCurrentTimestamp();
		bool		committed;
		bool		skip = false;
		int			i;

		compact_current = lfirst_int(lc);
		compact_wait = list_member_int(compact_overdue, compact_current) ?
			MQ_COMPACT_WAIT_MS : 0;
		for (i = 0; i < MQ_COMPACT_BACKOFFS; i++)
			if (compact_backoff[i].queue_id == compact_current &&
				compact_backoff[i].until > now)
			{
				compact_wait = 0;
				if (compact_backoff[i].failed)
					skip = true;
				due = Min(due, compact_backoff[i].until);
			}
		if (skip)
			continue;
		compact_done = false;
		(void) run_unit("compacting a queue table", do_compact_one, &committed);
		if (!committed)
			compact_back_off(compact_current, now, true);
		else if (compact_wait > 0 && !compact_done)
			compact_back_off(compact_current, now, false);
		if (!committed || !compact_done)
			due = Min(due, TimestampTzPlusMilliseconds(now, MQ_COMPACT_BACKOFF_MS));
	}
	list_free(compact_ids);
	list_free(compact_overdue);
	compact_ids = compact_overdue = NIL;
	return due;
}

static List *notify_ids = NIL;

static void
do_notify(void)
{
	Datum		ids;
	Datum	   *elems;
	int			n = list_length(notify_ids);
	int			i = 0;
	ListCell   *lc;
	Oid			argtype = INT4ARRAYOID;
	int			ret;

	elems = palloc(sizeof(Datum) * n);
	foreach(lc, notify_ids)
		elems[i++] = Int32GetDatum(lfirst_int(lc));
	ids = PointerGetDatum(construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT));

	mq_spi_connect();
	ret = SPI_execute_with_args("SELECT pg_catalog.pg_notify('mq.' OPERATOR(pg_catalog.||) queue_name, '')"
								" FROM mq._queue"
								" WHERE queue_id OPERATOR(pg_catalog.=) ANY ($1) AND notify",
								1, &argtype, &ids, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * The earliest deadline of the timed work in this database, as
 * mq._next_due() reckons it (anything at or before horizon may be
 * reported as horizon): set by do_next_due().  0 when it cannot tell (an
 * error, or a version of the extension without the function).
 */
static TimestampTz next_due_horizon;
static TimestampTz next_due_result;

static void
do_next_due(void)
{
	int			ret;
	bool		isnull;
	Datum		d;
	Oid			argtype = TIMESTAMPTZOID;
	Datum		arg = TimestampTzGetDatum(next_due_horizon);

	next_due_result = 0;
	mq_spi_connect();
	ret = SPI_execute("SELECT pg_catalog.to_regprocedure('mq._next_due(timestamptz)') IS NOT NULL",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		ret = SPI_execute_with_args("SELECT mq._next_due($1)", 1, &argtype, &arg,
									NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		next_due_result = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	}
	SPI_finish();
}

/*
 * A backend keeps its table statistics for up to 10 s before it reports
 * them (PGSTAT_IDLE_INTERVAL), and the compaction candidates come from
 * them.
 */
#define MQ_STATS_LAG_MS 11000

/*
 * The round that follows activity once it has settled: when the
 * statistics of its transactions are in (compaction candidates), and in
 * the minute after it, when the commit table that its consumer groups
 * wrote in is not in turn and is folded (mq._compact_commits).  Both at
 * once: at most 61 s after the activity (11 s, or 1 s into the next
 * minute).
 */
static TimestampTz
aftermath(TimestampTz activity)
{
	TimestampTz next_minute = (activity / USECS_PER_MINUTE + 1) * USECS_PER_MINUTE;

	return Max(TimestampTzPlusMilliseconds(activity, MQ_STATS_LAG_MS),
			   next_minute + USECS_PER_SEC);
}

/*
 * Maintenance: mq.maintain(), the streams' retention, compaction.  While
 * commits that may move deadlines keep coming (woken), a round every
 * mq.maintenance_interval, as always; once a round follows none, the
 * worker reckons the next deadline and sleeps until then (never for less
 * than the interval, nor for more than mq.worker_max_sleep).  Returns when
 * the next round is due; DT_NOEND when maintenance is off.
 */
/*
 * When this database last had activity: from the last worker that served
 * it (its aftermath may be due), then the commits that woke this one.
 */
static TimestampTz last_activity = 0;

static TimestampTz
maintenance(TimestampTz now, bool woken)
{
	static TimestampTz next = 0;
	static TimestampTz last = 0;
	static bool activity = false;
	bool		had;
	TimestampTz due;

	if (mq_maintenance_interval == 0)
		return DT_NOEND;
	if (woken)
	{
		activity = true;
		last_activity = now;
		next = Min(next, TimestampTzPlusMilliseconds(last, mq_maintenance_interval));
	}
	if (now < next)
		return next;

	/* with databases waiting for a worker, no rounds for the activity's sake */
	had = activity && !mq_pool_contended();
	activity = false;
	if (!run_unit("running mq.maintain()", do_maintain, NULL))
		leave_absent();
	(void) run_unit("maintaining streams", do_maintain_streams, NULL);
	due = compact_queues();
	last = GetCurrentTimestamp();
	next = TimestampTzPlusMilliseconds(last, mq_maintenance_interval);
	if (had)
		return next;			/* busy: the next round after the interval */

	next_due_horizon = next;
	(void) run_unit("reckoning what is due next", do_next_due, NULL);
	due = Min(due, next_due_result);
	if (last_activity != 0 && aftermath(last_activity) > last)
		due = Min(due, aftermath(last_activity));
	if (mq_worker_max_sleep > 0)
		due = Min(due, TimestampTzPlusMilliseconds(last, mq_worker_max_sleep));
	next = Max(next, due);
	return next;
}

/*
 * NOTIFYs that commits queued for this database (wait.c): sent at once,
 * but at most one round per mq.notify_interval (so one NOTIFY per queue at
 * most).  Notifications are taken out of shared memory before they are
 * sent; those of a round that fails are kept and sent with the next.
 * Returns when to come back for them (DT_NOEND: none held).
 */
static TimestampTz
notifications(TimestampTz now, bool force)
{
	static TimestampTz last = 0;
	TimestampTz due = TimestampTzPlusMilliseconds(last, mq_notify_interval);
	List	   *taken;
	bool		sent;

	taken = mq_take_pending_notifies(MyDatabaseId);
	notify_ids = list_concat_unique_int(notify_ids, taken);
	list_free(taken);
	if (notify_ids == NIL)
		return DT_NOEND;
	if (now < due && !force)
		return due;
	last = now;
	if (!run_unit("sending notifications", do_notify, &sent))
		leave_absent();
	if (!sent)
		return TimestampTzPlusMilliseconds(last, mq_notify_interval);
	list_free(notify_ids);
	notify_ids = NIL;
	return DT_NOEND;
}

/*
 * The streams' readable ends for standbys (stream_standby.c), written when
 * an append's commit or rollback moved one, at most once per
 * mq.notify_interval.  Returns when to come back (DT_NOEND: nothing left).
 */
static TimestampTz
stream_ends(TimestampTz now, bool moved, bool force)
{
	static bool pending = true; /* a first look at once */
	static TimestampTz last = 0;
	TimestampTz due = TimestampTzPlusMilliseconds(last, mq_notify_interval);

	pending |= moved;
	if (!pending)
		return DT_NOEND;
	if (now < due && !force)
		return due;
	last = now;
	pending = false;
	if (mq_stream_ends_moved())
	{
		(void) run_unit("publishing stream ends", mq_stream_publish_ends, NULL);
		/* a failed write is tried again */
		pending = mq_stream_ends_moved();
	}
	return pending ? TimestampTzPlusMilliseconds(last, mq_notify_interval) : DT_NOEND;
}

/* milliseconds from now until t (0 if past) */
static long
ms_until(TimestampTz t)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), t, &secs, &usecs);
	return secs * 1000 + (usecs + 999) / 1000;
}

/*
 * Sleep on the latch until wake_at (DT_NOEND: until it is set), looked at
 * last at last_look.
 *
 * Two things make this more than a WaitLatch.  The round may have reset
 * the latch after a commit set it (a wait for a lock or for a synchronous
 * standby inside the round resets it), and that commit's bits stay set, so
 * that later commits set no latch: so bits wanted since the look end the
 * sleep at once.  And under steady traffic every commit would set the
 * latch again as soon as the worker has taken the bits: so the worker
 * listens to its latch at most once per mq.notify_interval (commits meanwhile
 * find their bits set and wait for the next look, which is what the
 * interval allows them anyway), and busy databases cost at most that many
 * wakeups, as when the worker polled.
 */
static void
sleep_until(TimestampTz wake_at, TimestampTz last_look)
{
	TimestampTz quiet_until = TimestampTzPlusMilliseconds(last_look, mq_notify_interval);
	long		timeout;

	mq_worker_report_sleep(wake_at);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (wake_at > GetCurrentTimestamp() && quiet_until > GetCurrentTimestamp())
	{
		/* deaf to the latch until the quiet time is over (or wake_at) */
		timeout = ms_until(Min(wake_at, quiet_until));
		if (timeout > 0)
			(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout,
							 PG_WAIT_EXTENSION);
		if (wake_at <= quiet_until)
			return;
	}
	if (mq_worker_peek_wanted() != 0)
		return;					/* wanted since the look: look again now */
	if (wake_at == DT_NOEND)
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
						 PG_WAIT_EXTENSION);
	else
	{
		timeout = ms_until(wake_at);
		if (timeout > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
	}
	ResetLatch(MyLatch);
}

/*
 * Does the worker give its slot back now?  When the launcher asks (other
 * databases wait and it has had its turn); when others wait and its round
 * left nothing to do now (no commit wanted it meanwhile; maintenance() then
 * skips the rounds that follow activity, so a database woken once is
 * served in one round); or when its database is idle: no commit wanted it
 * for mq.worker_idle_timeout and nothing is due within that long.  Only with nothing held (NOTIFYs taken out of shared memory,
 * readable ends to write): the caller sees to that.
 */
static bool
may_leave(TimestampTz wake_at, TimestampTz last_wanted)
{
	TimestampTz now = GetCurrentTimestamp();

	if (mq_worker_yield_asked())
		return true;
	if (mq_worker_idle_timeout < 0 || mq_worker_peek_wanted() != 0)
		return false;
	/* others wait: leave once this round did all there was */
	if (mq_pool_contended())
		return wake_at > now;
	return now >= TimestampTzPlusMilliseconds(last_wanted, mq_worker_idle_timeout) &&
		wake_at >= TimestampTzPlusMilliseconds(now, mq_worker_idle_timeout);
}

void
mq_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	TimestampTz last_wanted = 0;
	uint32		wanted;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* before connecting, so DROP DATABASE sees us */
	{
		uint32		generation;

		memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(generation));
		last_activity = mq_worker_slot_claim(dboid, generation);
	}
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("mq worker");
	/*
	 * What the commits wanted before it came is its now: a worker that finds
	 * no extension takes the bits with it (or the launcher would start
	 * another for them, and another).
	 */
	wanted = mq_worker_take_wanted();
	if (!run_unit("looking for the extension", do_nothing, NULL))
		leave_absent();
	mq_worker_slot_present();

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake_at;
		TimestampTz held;
		bool		reloaded = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			reloaded = true;	/* intervals may have changed: reckon again */
		}

		if (RecoveryInProgress())
		{
			/* a standby: nothing to do here (not started there normally) */
			sleep_until(TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													MQ_STANDBY_LOOK_MS), 0);
			continue;
		}

		/* what the commits since the last look want (worker_slot.c) */
		wanted |= mq_worker_take_wanted();
		now = GetCurrentTimestamp();
		if (wanted != 0)
			last_wanted = now;
		held = notifications(now, false);
		held = Min(held, stream_ends(now, (wanted & MQ_WORK_ENDS) != 0, false));
		wake_at = Min(held, maintenance(now, (wanted & MQ_WORK_ACTIVITY) != 0 ||
										reloaded));
		wanted = 0;
		/* and those the round queued itself (dead letters to a notify queue) */
		held = Min(held, notifications(GetCurrentTimestamp(), false));
		wake_at = Min(wake_at, held);
		if (held != DT_NOEND && mq_worker_yield_asked())
		{
			/* asked to make way: what it holds goes now, not at its time */
			held = notifications(GetCurrentTimestamp(), true);
			held = Min(held, stream_ends(GetCurrentTimestamp(), false, true));
			wake_at = Min(wake_at, held);
		}
		if (held == DT_NOEND && may_leave(wake_at, last_wanted))
		{
			/* the launcher gives the database a worker again at wake_at */
			mq_worker_leave(wake_at, false, last_activity);
			proc_exit(0);
		}
		sleep_until(wake_at, now);
	}
}
