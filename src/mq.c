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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	mq_define_gucs();
}
