/*-------------------------------------------------------------------------
 *
 * queue_sweep.c
 *	  The sweep of a queue nobody reads (mq.maintain(), mq.sweep()): messages
 *	  past max_receives or message_ttl go to the dead-letter queue or the
 *	  archive in batches of MQ_SWEEP_BATCH, as a lease would move them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guc.h"
#include "queue_hint.h"
#include "queue_int.h"
#include "wait.h"

/*
 * Move every message of q that is past max_receives (and visible) or past
 * message_ttl or its own ttl (and not leased) to where its dead letters go.
 * Counts go to *dead_lettered and *expired.  mq.maintain() sweeps the queues
 * with max_receives or message_ttl; a message's own ttl is found by the
 * reads that meet it (as RabbitMQ expires per-message TTLs at the head of
 * the queue), which call this for a queue with group limits or fairness.
 */
void
mq_queue_sweep(MqQueue *q, TimestampTz now, int64 *dead_lettered,
			   int64 *expired)
{
	Datum		values[4];

	*dead_lettered = *expired = 0;
	mq_queue_lock_queue(q);

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(q->max_receives > 0 ? q->max_receives : PG_INT32_MAX);
	values[2] = TimestampTzGetDatum(q->has_ttl ?
									mq_queue_time_before(now, &q->message_ttl) :
									DT_NOBEGIN);
	values[3] = Int64GetDatum(MQ_SWEEP_BATCH);

	mq_spi_connect();
	for (;;)
	{
		uint64		i;
		int64		d = 0,
					e = 0;

		mq_queue_execute(q, MQ_PLAN_SWEEP, values, NULL, SPI_OK_SELECT);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		reason = SPI_getbinval(SPI_tuptable->vals[i],
											   SPI_tuptable->tupdesc, 1,
											   &isnull);

			if (strcmp(TextDatumGetCString(reason), "expired") == 0)
				e++;
			else
				d++;
		}
		mq_queue_count(q, d, e, 0);
		*dead_lettered += d;
		*expired += e;
		if (d + e < MQ_SWEEP_BATCH)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
}
