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
 *	worker.c	background workers: timed work and NOTIFYs
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "guc.h"
#include "hint.h"
#include "wait.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

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
	mq_wait_init();
	mq_hint_init();
	mq_register_launcher();
}
