/*-------------------------------------------------------------------------
 *
 * queue_result.c
 *	  What the SQL and access-method paths do with the rows they took or
 *	  removed: copy them to the caller in delivery order, remember the dedup
 *	  keys of removed messages for dedup_window, and count what left a queue
 *	  other than by ack (dead letters, expiries, drops) -- waking the readers
 *	  of the dead-letter queue at commit.
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

typedef struct MessageOrder
{
	MqKey		key;
	uint64		row;
} MessageOrder;

/*
 * Dead letters of q were just moved into its dead-letter queue, if any:
 * readers must look from its start, and waiting ones (and, for a queue
 * with notify, listeners) hear of it at commit.
 */
static void
storage_dead_lettered_into(MqQueue *q)
{
	if (q->dead_letter_queue_id != 0)
	{
		mq_hint_reset(q->dead_letter_queue_id);
		/* the worker NOTIFYs only if that queue asked for it */
		mq_wake_queue_at_commit(q->dead_letter_queue_id, true);
	}
}

/* Add to the counters of messages that left q other than by ack. */
void
mq_queue_count(MqQueue *q, int64 dead_lettered, int64 expired, int64 dropped)
{
	Datum		values[3];

	if (dead_lettered == 0 && expired == 0 && dropped == 0)
		return;
	storage_dead_lettered_into(q);
	values[0] = Int64GetDatum(dead_lettered);
	values[1] = Int64GetDatum(expired);
	values[2] = Int64GetDatum(dropped);
	mq_queue_execute(q, MQ_PLAN_STATS, values, NULL, SPI_OK_UPDATE);
}

/* Is there a dedup window, so that removed keys must be remembered? */
bool
mq_queue_has_dedup_window(MqQueue *q)
{
	return q->dedup_window.time != 0 || q->dedup_window.day != 0 ||
		q->dedup_window.month != 0;
}

/*
 * Remember n dedup keys (text) of messages that were just acked (or popped,
 * or archived), with their ids (bigint), so that a send of the same key
 * within dedup_window is still a no-op.  The caller is connected to SPI.
 */
void
mq_queue_remember_keys(MqQueue *q, TimestampTz now, Datum *keys, Datum *ids, int n)
{
	Datum		values[3];

	if (n == 0)
		return;
	values[0] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1,
												false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8,
												FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[2] = TimestampTzGetDatum(now);
	mq_queue_execute(q, MQ_PLAN_REMEMBER_KEYS, values, NULL, SPI_OK_INSERT);
}

/*
 * mq_queue_remember_keys() for the rows of the current SPI result: columns idcol and
 * keycol hold ids and keys.  Leaves that result to the caller.
 */
void
mq_queue_remember_result_keys(MqQueue *q, TimestampTz now, int idcol, int keycol)
{
	uint64		n = SPI_processed;
	SPITupleTable *tuptable = SPI_tuptable;
	Datum	   *keys;
	Datum	   *ids;
	int			nkeys = 0;
	uint64		i;

	if (n == 0 || !mq_queue_has_dedup_window(q))
		return;

	keys = palloc(sizeof(Datum) * n);
	ids = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		key;

		/* a dead-lettered row (lease and pop results) releases its key */
		if (tuptable->tupdesc->natts > Natts_mq_message)
		{
			(void) SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, Anum_mq_dead_reason,
								 &isnull);
			if (!isnull)
				continue;
		}
		key = SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, keycol,
							&isnull);
		if (isnull)
			continue;
		keys[nkeys] = key;
		ids[nkeys] = SPI_getbinval(tuptable->vals[i], tuptable->tupdesc,
								   idcol, &isnull);
		nkeys++;
	}
	mq_queue_remember_keys(q, now, keys, ids, nkeys);
	SPI_tuptable = tuptable;	/* let the caller read its result on */
	SPI_processed = n;
}

/* Copy the first column (bigint) of every result row to out. */
void
mq_queue_put_ids(Tuplestorestate *out, TupleDesc outdesc)
{
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[i],
									   SPI_tuptable->tupdesc, 1, &isnull);

		tuplestore_putvalues(out, outdesc, &id, &isnull);
	}
}

static int
message_order_cmp(const void *a, const void *b)
{
	return mq_key_cmp(&((const MessageOrder *) a)->key,
					  &((const MessageOrder *) b)->key);
}

/*
 * Copy the delivered messages of a lease or pop result to out, in delivery
 * order (RETURNING gives them in no particular order).  A last column, when
 * there is one, is the reason a row was dead-lettered instead: such rows are
 * counted in *dead_lettered or *expired, not delivered.  Returns the number
 * delivered.
 */
uint64
mq_queue_put_messages(Tuplestorestate *out, TupleDesc outdesc,
					  int64 *dead_lettered, int64 *expired)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	uint64		n = SPI_processed;
	MessageOrder *order = palloc(sizeof(MessageOrder) * (n + 1));
	uint64		delivered = 0;
	Datum		values[Natts_mq_message + 1];
	bool		nulls[Natts_mq_message + 1];
	uint64		i;

	/* (a database not yet updated has a narrower mq.message) */
	Assert(outdesc->natts <= Natts_mq_message);
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		if (desc->natts > Natts_mq_message)
		{
			Datum		reason = SPI_getbinval(SPI_tuptable->vals[i], desc, Anum_mq_dead_reason,
											   &isnull);

			if (!isnull)
			{
				if (strcmp(TextDatumGetCString(reason), "expired") == 0)
					(*expired)++;
				else
					(*dead_lettered)++;
				continue;
			}
		}
		order[delivered].key.msg_id =
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], desc, Anum_mq_message_msg_id, &isnull));
		order[delivered].key.priority =
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], desc, Anum_mq_message_priority, &isnull));
		order[delivered].row = i;
		delivered++;
	}
	qsort(order, delivered, sizeof(MessageOrder), message_order_cmp);
	for (i = 0; i < delivered; i++)
	{
		heap_deform_tuple(SPI_tuptable->vals[order[i].row], desc, values, nulls);
		tuplestore_putvalues(out, outdesc, values, nulls);
	}
	pfree(order);
	return delivered;
}
