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
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
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
	mq_worker_shmem_request();
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
	mq_worker_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * CREATE EXTENSION mq has just made the extension in this database.  The ids
 * of queues, streams and consumer groups start again at 1, so shared memory
 * may still hold entries of an extension dropped before, under the same
 * (database, id): a scan hint past the new queue's first messages, a
 * stream's next position, a group's holder.  They are forgotten now.  No
 * other session can have entries of the new extension yet (it is not
 * committed); pending NOTIFYs and waiters of the old one go too.
 */
static void
forget_database(void)
{
	list_free(mq_take_pending_notifies(MyDatabaseId));
	mq_hint_forget_database();
	mq_limits_forget_database();
	mq_stream_forget_database();
	mq_consumer_group_forget_database();
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

	/* a CREATE EXTENSION mq that will make it (not IF NOT EXISTS of one there) */
	new_mq = creates_mq(parsetree) && IsTransactionState() &&
		!OidIsValid(get_extension_oid("mq", true));
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
		forget_database();
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
