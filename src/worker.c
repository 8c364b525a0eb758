/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Background workers: a launcher, and one worker per database that has
 *	  the extension, doing the timed work.
 *
 * The launcher ("mq launcher") is registered by _PG_init when mq is
 * preloaded and starts once recovery is over, so a standby runs none of
 * this until it is promoted.  It connects to no database; every few seconds
 * it lists the databases that accept connections and starts an "mq worker"
 * for each one that has none running.  A worker connects to its database,
 * and exits at once if the extension is not there (the launcher tries again
 * later, so CREATE EXTENSION is noticed within seconds, and DROP EXTENSION
 * makes the worker leave).
 *
 * A worker loops:
 *	- every mq.maintenance_interval (unless 0) it runs mq.maintain(): dead
 *	  letters, TTL expiry, archive retention, dedup-key pruning; then
 *	  mq._maintain_streams(): streams' segments opened and dropped;
 *	- every mq.notify_interval it sends the NOTIFYs that commits queued for
 *	  its database (wait.c), one per queue at most, and writes the streams'
 *	  readable ends that moved into mq._stream_end, for standbys (stream_standby.c).
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

PGDLLEXPORT void mq_launcher_main(Datum main_arg);
PGDLLEXPORT void mq_worker_main(Datum main_arg);

/* how often the launcher looks for databases, in milliseconds */
#define MQ_LAUNCHER_INTERVAL 5000

/* restart a crashed or killed worker after this many seconds */
#define MQ_RESTART_SECONDS 5

typedef struct DatabaseWorker
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
	TimestampTz stopped_at;		/* when the launcher saw it stopped, or 0 */
} DatabaseWorker;

/* Which database each running worker serves (one slot per possible worker) */
typedef struct WorkerSlot
{
	pid_t		pid;			/* 0: free */
	Oid			dboid;
} WorkerSlot;

typedef struct WorkerSlots
{
	slock_t		mutex;
	int			n;
	WorkerSlot	slot[FLEXIBLE_ARRAY_MEMBER];
} WorkerSlots;

static WorkerSlots *worker_slots = NULL;


static Size
worker_slots_size(void)
{
	return add_size(offsetof(WorkerSlots, slot),
					mul_size(max_worker_processes, sizeof(WorkerSlot)));
}

void
mq_worker_shmem_request(void)
{
	RequestAddinShmemSpace(worker_slots_size());
}

void
mq_worker_shmem_startup(void)
{
	bool		found;

	worker_slots = ShmemInitStruct("mq workers", worker_slots_size(), &found);
	if (!found)
	{
		SpinLockInit(&worker_slots->mutex);
		worker_slots->n = max_worker_processes;
		memset(worker_slots->slot, 0, sizeof(WorkerSlot) * worker_slots->n);
	}
}

/* on_shmem_exit: the worker's slot is free again */
static void
release_worker_slot(int code, Datum arg)
{
	WorkerSlot *slot = &worker_slots->slot[DatumGetInt32(arg)];

	SpinLockAcquire(&worker_slots->mutex);
	slot->pid = 0;
	slot->dboid = InvalidOid;
	SpinLockRelease(&worker_slots->mutex);
}

/* Note this worker, which serves dboid, in a free slot. */
static void
claim_worker_slot(Oid dboid)
{
	int			i;

	SpinLockAcquire(&worker_slots->mutex);
	for (i = 0; i < worker_slots->n; i++)
	{
		if (worker_slots->slot[i].pid == 0)
		{
			worker_slots->slot[i].pid = MyProcPid;
			worker_slots->slot[i].dboid = dboid;
			break;
		}
	}
	SpinLockRelease(&worker_slots->mutex);
	/* every worker is a background worker: there is a slot for each */
	if (i == worker_slots->n)
		elog(ERROR, "no free mq worker slot");
	on_shmem_exit(release_worker_slot, Int32GetDatum(i));
}

/*
 * Ask the workers serving the named database to leave, if the current user
 * owns it, so that a command that needs the database to itself can run.
 */
static void
make_way(const char *dbname)
{
	Oid			dboid;
	pid_t		pids[8];
	int			npids = 0;
	int			i;

	if (dbname == NULL)
		return;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId)
		return;
	if (!mq_database_ownercheck(dboid, GetUserId()))
		return;

	SpinLockAcquire(&worker_slots->mutex);
	for (i = 0; i < worker_slots->n && npids < lengthof(pids); i++)
		if (worker_slots->slot[i].pid != 0 && worker_slots->slot[i].dboid == dboid)
			pids[npids++] = worker_slots->slot[i].pid;
	SpinLockRelease(&worker_slots->mutex);

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
	if (worker_slots == NULL)
		return;
	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			make_way(((DropdbStmt *) parsetree)->dbname);
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				make_way(((RenameStmt *) parsetree)->subname);
			break;
		case T_AlterDatabaseStmt:
			if (option_string(((AlterDatabaseStmt *) parsetree)->options,
							  "tablespace") != NULL)
				make_way(((AlterDatabaseStmt *) parsetree)->dbname);
			break;
		case T_CreatedbStmt:
			make_way(option_string(((CreatedbStmt *) parsetree)->options,
								   "template"));
			break;
		default:
			break;
	}
}

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
static List *
database_list(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			/* the list outlives the transaction */
			MemoryContext old = MemoryContextSwitchTo(outer);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dbs;
}

static BackgroundWorkerHandle *
start_database_worker(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	init_worker(&worker, "mq_worker_main", "mq worker");
	snprintf(worker.bgw_name, BGW_MAXLEN, "mq worker for database %u", dboid);
	/* the launcher starts a new one if the database is still there */
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errmsg("mq could not start a worker for database %u", dboid),
				 errhint("Raise max_worker_processes: mq needs one worker per database that has the extension, plus its launcher.")));
		return NULL;
	}
	return handle;
}

void
mq_launcher_main(Datum main_arg)
{
	List	   *workers = NIL;	/* DatabaseWorker * in TopMemoryContext */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	for (;;)
	{
		List	   *dbs;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		pgstat_report_activity(STATE_RUNNING, "looking for databases");
		dbs = database_list();
		foreach(lc, dbs)
		{
			Oid			dboid = lfirst_oid(lc);
			DatabaseWorker *dw = NULL;
			ListCell   *wc;
			pid_t		pid;

			foreach(wc, workers)
				if (((DatabaseWorker *) lfirst(wc))->dboid == dboid)
					dw = lfirst(wc);
			if (dw == NULL)
			{
				dw = MemoryContextAllocZero(TopMemoryContext, sizeof(DatabaseWorker));
				dw->dboid = dboid;
				workers = lappend(workers, dw);	/* list in TopMemoryContext */
			}
			if (dw->handle != NULL)
			{
				TimestampTz now = GetCurrentTimestamp();

				if (GetBackgroundWorkerPid(dw->handle, &pid) != BGWH_STOPPED)
					continue;	/* running, or about to */

				/*
				 * Wait a little before a new one: the worker may have left
				 * for a DROP DATABASE that is not over yet.
				 */
				if (dw->stopped_at == 0)
					dw->stopped_at = now;
				if (!TimestampDifferenceExceeds(dw->stopped_at, now,
												MQ_RESTART_SECONDS * 1000))
					continue;
				pfree(dw->handle);
			}
			dw->stopped_at = 0;
			dw->handle = start_database_worker(dboid);
		}

		/* forget dropped databases whose worker is gone */
		foreach(lc, workers)
		{
			DatabaseWorker *dw = lfirst(lc);
			pid_t		pid;

			if (list_member_oid(dbs, dw->dboid))
				continue;
			if (dw->handle != NULL &&
				GetBackgroundWorkerPid(dw->handle, &pid) != BGWH_STOPPED)
				continue;
			if (dw->handle != NULL)
				pfree(dw->handle);
			pfree(dw);
			workers = foreach_delete_current(workers, lc);
		}
		list_free(dbs);
		pgstat_report_activity(STATE_IDLE, NULL);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 MQ_LAUNCHER_INTERVAL, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
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

static void
compact_queues(void)
{
	ListCell   *lc;

	if (mq_compact_threshold <= 0)
		return;
	if (!run_unit("listing queues to compact", do_list_compactions, NULL))
		return;
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
			}
		if (skip)
			continue;
		compact_done = false;
		(void) run_unit("compacting a queue table", do_compact_one, &committed);
		if (!committed)
			compact_back_off(compact_current, now, true);
		else if (compact_wait > 0 && !compact_done)
			compact_back_off(compact_current, now, false);
	}
	list_free(compact_ids);
	list_free(compact_overdue);
	compact_ids = compact_overdue = NIL;
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

void
mq_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	TimestampTz next_maintenance = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	claim_worker_slot(dboid);	/* before connecting, so DROP DATABASE sees us */
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("mq worker");

	for (;;)
	{
		TimestampTz now;
		long		timeout;
		long		secs;
		int			usecs;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (RecoveryInProgress())
		{
			/* a standby: nothing to do here (not started there normally) */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 MQ_LAUNCHER_INTERVAL, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}

		/*
		 * Notifications are taken out of shared memory before they are sent;
		 * those of a round that fails are kept and sent with the next round.
		 */
		{
			List	   *taken = mq_take_pending_notifies(MyDatabaseId);

			notify_ids = list_concat_unique_int(notify_ids, taken);
			list_free(taken);
		}
		if (notify_ids != NIL)
		{
			bool		sent;

			if (!run_unit("sending notifications", do_notify, &sent))
				proc_exit(0);
			if (sent)
			{
				list_free(notify_ids);
				notify_ids = NIL;
			}
		}

		/* streams' readable ends, for standbys (stream_standby.c) */
		if (mq_stream_ends_moved())
			(void) run_unit("publishing stream ends", mq_stream_publish_ends, NULL);

		now = GetCurrentTimestamp();
		if (mq_maintenance_interval == 0)
			next_maintenance = TimestampTzPlusMilliseconds(now, mq_notify_interval);
		else if (now >= next_maintenance)
		{
			if (!run_unit("running mq.maintain()", do_maintain, NULL))
				proc_exit(0);	/* no extension here: the launcher looks again */
			(void) run_unit("maintaining streams", do_maintain_streams, NULL);
			compact_queues();
			next_maintenance = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   mq_maintenance_interval);
		}

		now = GetCurrentTimestamp();
		TimestampDifference(now, next_maintenance, &secs, &usecs);
		timeout = Min(secs * 1000 + usecs / 1000, mq_notify_interval);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(timeout, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
