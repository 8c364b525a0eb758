/*-------------------------------------------------------------------------
 *
 * worker_launcher.c
 *	  The launcher: the one process that gives databases their workers,
 *	  from a pool of at most mq.max_workers.
 *
 * The launcher ("mq launcher") is registered by _PG_init when mq is
 * preloaded and starts once recovery is over, so a standby runs none of
 * this until it is promoted.  It connects to no database.  It lists the
 * databases that accept connections into shared memory (worker_slot.c):
 * when it starts, when a CREATE, ALTER or DROP DATABASE commits, when a
 * worker stopped without leaving (its database may be gone), and at least
 * once a minute (MQ_RESCAN_MS).  Then it gives workers to the databases
 * that want one (mq_pool_plan(): nobody has looked yet, a commit woke it,
 * or its next deadline has come), those waiting longest first, and asks
 * workers that have had their turn to make way while others wait.  A
 * worker checks first that its database has the extension, and leaves
 * when it has not (the database gets no worker until a CREATE EXTENSION
 * commits there).  In between the launcher sleeps: until the earliest
 * deadline of a database without a worker, or until its latch is set (a
 * commit in such a database, a worker that stopped: the postmaster tells
 * it, for it started them).  With every database idle, nothing runs and
 * nothing wakes but this once a minute.
 *
 * When max_worker_processes has no room for a worker, the launcher tries
 * again a second later or when a worker stops, and says so in the log,
 * once a minute at most, as it does when databases wait for a slot of the
 * pool.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guc.h"
#include "worker.h"
#include "worker_slot.h"

PGDLLEXPORT void mq_launcher_main(Datum main_arg);

/* the launcher lists the databases at least this often */
#define MQ_RESCAN_MS 60000

/* it tries again this soon when no background worker could be started */
#define MQ_RETRY_MS 1000

/* and says so, or that databases wait for the pool, this often at most */
#define MQ_COMPLAIN_MS 60000

typedef struct StartedWorker
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
} StartedWorker;

/* The common part of mq's worker definitions. */
static void
init_worker(BackgroundWorker *worker, const char *function, const char *type)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = MQ_RESTART_SECONDS;
	strlcpy(worker->bgw_library_name, "mq", BGW_MAXLEN);
	strlcpy(worker->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker->bgw_name, type, BGW_MAXLEN);
	strlcpy(worker->bgw_type, type, BGW_MAXLEN);
}

void
mq_register_launcher(void)
{
	BackgroundWorker worker;

	init_worker(&worker, "mq_launcher_main", "mq launcher");
	RegisterBackgroundWorker(&worker);
}

/* The databases a worker may serve: those that accept connections. */
static void
sync_databases(void)
{
	Oid		   *dboids;
	int			n = 0;
	int			max = 64;
	int			missing;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	static TimestampTz complained = 0;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	dboids = palloc(sizeof(Oid) * max);
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate)
			continue;
		if (n == max)
		{
			max *= 2;
			dboids = repalloc(dboids, sizeof(Oid) * max);
		}
		dboids[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	missing = mq_databases_sync(dboids, n);
	CommitTransactionCommand();
	if (missing > 0 &&
		TimestampDifferenceExceeds(complained, GetCurrentTimestamp(), MQ_COMPLAIN_MS))
	{
		ereport(WARNING,
				(errmsg("mq serves at most %d databases: %d get no worker",
						MQ_MAX_DATABASES, missing)));
		complained = GetCurrentTimestamp();
	}
}

static BackgroundWorkerHandle *
start_database_worker(Oid dboid, uint32 generation)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	init_worker(&worker, "mq_worker_main", "mq worker");
	snprintf(worker.bgw_name, BGW_MAXLEN, "mq worker for database %u", dboid);
	/* the launcher starts a new one when the database needs it */
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	/* which start this is: a stale one leaves at once (worker_slot.c) */
	memcpy(worker.bgw_extra, &generation, sizeof(generation));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

/*
 * The workers that stopped since the last look: their databases may want
 * a new one.  Returns true when one stopped without leaving on its own
 * (its database may have been dropped: list them again).
 */
static bool
reap_workers(List **started, TimestampTz now)
{
	ListCell   *lc;
	bool		unexpected = false;

	foreach(lc, *started)
	{
		StartedWorker *sw = lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(sw->handle, &pid) != BGWH_STOPPED)
			continue;
		if (mq_database_worker_stopped(sw->dboid, now, true))
			unexpected = true;
		pfree(sw->handle);
		pfree(sw);
		*started = foreach_delete_current(*started, lc);
	}
	return unexpected;
}

void
mq_launcher_main(Datum main_arg)
{
	List	   *started = NIL;	/* StartedWorker * in TopMemoryContext */
	TimestampTz last_scan = 0;
	TimestampTz complained = 0;
	TimestampTz complained_room = 0;
	Oid		   *start;
	uint32	   *generations;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	mq_launcher_claim();
	start = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * MQ_MAX_DATABASES);
	generations = MemoryContextAlloc(TopMemoryContext, sizeof(uint32) * MQ_MAX_DATABASES);

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake;
		int			nstart;
		int			waiting;
		int			i;
		bool		failed = false;
		bool		rescan;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		rescan = reap_workers(&started, now);
		rescan |= mq_databases_rescan_wanted();
		if (rescan || TimestampDifferenceExceeds(last_scan, now, MQ_RESCAN_MS))
		{
			pgstat_report_activity(STATE_RUNNING, "listing databases");
			sync_databases();
			last_scan = now;
			pgstat_report_activity(STATE_IDLE, NULL);
		}

		waiting = mq_pool_plan(now, mq_max_workers, start, generations,
							   &nstart, &wake);
		for (i = 0; i < nstart; i++)
		{
			BackgroundWorkerHandle *handle = NULL;

			if (!failed)
				handle = start_database_worker(start[i], generations[i]);
			if (handle == NULL)
			{
				/* no room in max_worker_processes: in line again */
				mq_database_worker_stopped(start[i], now, false);
				failed = true;
				waiting++;
				continue;
			}
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
				StartedWorker *sw = palloc(sizeof(StartedWorker));

				sw->dboid = start[i];
				sw->handle = handle;
				started = lappend(started, sw);
				MemoryContextSwitchTo(old);
			}
		}
		if (failed)
			wake = Min(wake, TimestampTzPlusMilliseconds(now, MQ_RETRY_MS));
		if (failed && TimestampDifferenceExceeds(complained_room, now, MQ_COMPLAIN_MS))
		{
			ereport(LOG,
					(errmsg("mq: %d databases wait for a worker: max_worker_processes has no room for one",
							waiting),
					 errhint("Raise max_worker_processes, or lower mq.max_workers (now %d) to what it can hold.",
							 mq_max_workers)));
			complained_room = now;
		}
		else if (waiting > 0 && !failed &&
				 TimestampDifferenceExceeds(complained, now, MQ_COMPLAIN_MS))
		{
			ereport(LOG,
					(errmsg("mq: %d databases wait for a worker: all %d of mq.max_workers are busy",
							waiting, mq_max_workers),
					 errhint("Their work is done in turn; raise mq.max_workers for more at once.")));
			complained = now;
		}

		wake = Min(wake, TimestampTzPlusMilliseconds(last_scan, MQ_RESCAN_MS));
		timeout = 10;			/* (never a busy loop) */
		if (wake > now)
		{
			long		secs;
			int			usecs;

			TimestampDifference(now, wake, &secs, &usecs);
			timeout = Max(timeout, secs * 1000 + (usecs + 999) / 1000);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
