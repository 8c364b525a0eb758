/*-------------------------------------------------------------------------
 *
 * mq.c
 *	  Entry point of the mq extension: module magic and _PG_init.
 *
 * mq is a message-queue engine inside PostgreSQL.  The code is split by
 * concern:
 *
 *	guc.c		configuration parameters (mq.*)
 *	queue.c		queue names, the catalog and the per-backend queue cache
 *	storage.c	the per-queue message tables and the SQL run against them
 *	delivery.c	the SQL-callable hot path: send, read, pop, ack, nack, ...
 *	routing.c	exchanges, bindings and publish
 *	wait.c		shared-memory waiters: wake blocked readers at commit
 *	hint.c		shared scan hints: where each queue's live messages begin
 *	worker.c	background workers: timed work and NOTIFYs
 *	privilege.c, trigger.c	per-queue privileges; row triggers that send
 *
 * When preloaded, this file's hooks reserve and set up the shared memory of
 * wait.c, hint.c and worker.c in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"

#include "guc.h"
#include "hint.h"
#include "wait.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* mq's shared memory: waiters and pending NOTIFYs, scan hints, workers */
static void
mq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	mq_wait_shmem_request();
	mq_hint_shmem_request();
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
	mq_worker_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	mq_define_gucs();

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
