/*-------------------------------------------------------------------------
 *
 * mq.c
 *	  Entry point of the mq extension: module magic and _PG_init.
 *
 * mq is a message broker inside PostgreSQL: queues (queue_*.c), streams
 * (stream_*.c) and exchanges (exchange*.c) over shared infrastructure
 * (args.c, spi.c, guc.c, privilege.c, wait.c), with management, roles,
 * triggers and background workers on top.  src/README.md has the layout,
 * the layers (each file calls only files below it) and the design.
 *
 * When preloaded, this file's hooks reserve and set up the shared memory of
 * wait.c, queue_hint.c, queue_limit.c, the stream files and worker.c in
 * one place.  Its utility hook, installed
 * whenever mq is loaded, passes the commands that concern mq to worker.c
 * and roles.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_database.h"	/* get_database_oid() from 19 on */
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "tcop/utility.h"

#include "guc.h"
#include "queue_hint.h"
#include "queue_limit.h"
#include "manage.h"
#include "roles.h"
#include "stream.h"
#include "wait.h"
#include "worker.h"
#include "worker_slot.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* mq's shared memory: waiters and pending NOTIFYs, scan hints, workers */
static void
mq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	mq_wait_shmem_request();
	mq_hint_shmem_request();
	mq_limits_shmem_request();
	mq_stream_shmem_request();
	mq_consumer_group_shmem_request();
	mq_worker_slots_shmem_request();
}

static void
mq_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	mq_wait_shmem_startup();
	mq_hint_shmem_startup();
	mq_limits_shmem_startup();
	mq_stream_shmem_startup();
	mq_consumer_group_shmem_startup();
	mq_worker_slots_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Shared memory keeps entries per (database, id): scan hints, rate buckets,
 * streams' positions, consumer groups, pending NOTIFYs.  They are forgotten,
 * and their roles get their shares back (quota.c), when their database goes:
 *	- CREATE EXTENSION mq has just made the extension: ids start again at 1,
 *	  so entries of an extension dropped before (under the same ids: a scan
 *	  hint past the new queue's first messages, a stream's next position, a
 *	  group's holder) must not pass to the new objects.  No other session
 *	  can have entries of the new extension yet (it is not committed).
 *	- DROP EXTENSION mq commits: its objects are gone.
 *	- DROP DATABASE has dropped a database (nobody is connected to it).
 */
static void
forget_database(Oid dbid)
{
	list_free(mq_take_pending_notifies(dbid));
	mq_hint_forget_database(dbid);
	mq_limits_forget_database(dbid);
	mq_stream_forget_database(dbid);
	mq_consumer_group_forget_database(dbid);
}

/* this transaction dropped the extension: forget its entries at commit */
static bool forget_at_commit = false;

static void
forget_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && forget_at_commit)
		forget_database(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		forget_at_commit = false;
}

/* is this DROP EXTENSION naming mq? */
static bool
drops_mq(Node *parsetree)
{
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt) ||
		((DropStmt *) parsetree)->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, ((DropStmt *) parsetree)->objects)
		if (strcmp(strVal(lfirst(lc)), "mq") == 0)
			return true;
	return false;
}

/* is this CREATE EXTENSION mq? */
static bool
creates_mq(Node *parsetree)
{
	return IsA(parsetree, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) parsetree)->extname, "mq") == 0;
}

/*
 * Utility commands that touch what mq keeps: databases its workers are
 * connected to (worker.c), roles that own queues or hold privileges on them
 * (roles.c), LISTEN on a queue's channel (privilege.c), CREATE EXTENSION mq
 * (above).
 */
static void
mq_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		new_mq;

	Oid			dropped_db = InvalidOid;
	static bool callback_registered = false;

	/* a CREATE EXTENSION mq that will make it (not IF NOT EXISTS of one there) */
	new_mq = creates_mq(parsetree) && IsTransactionState() &&
		!OidIsValid(get_extension_oid("mq", true));
	if (IsA(parsetree, DropdbStmt))
		dropped_db = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
	mq_worker_before_utility(parsetree);
	mq_roles_before_utility(parsetree);
	mq_privilege_before_utility(parsetree);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	mq_roles_after_utility(parsetree);
	if (new_mq)
	{
		/* (a DROP EXTENSION before it in this transaction is covered) */
		forget_database(MyDatabaseId);
		forget_at_commit = false;
	}
	if (OidIsValid(dropped_db))
		forget_database(dropped_db);
	if (drops_mq(parsetree))
	{
		if (!callback_registered)
		{
			RegisterXactCallback(forget_xact_callback, NULL);
			callback_registered = true;
		}
		forget_at_commit = true;
	}
}

void
_PG_init(void)
{
	mq_define_gucs();
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = mq_process_utility;

	/*
	 * Shared memory and workers only when preloaded; loaded on first use,
	 * every function still works and waiting reads poll.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mq_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mq_shmem_startup;
	mq_register_launcher();
}
