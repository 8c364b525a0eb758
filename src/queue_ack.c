/*-------------------------------------------------------------------------
 *
 * queue_ack.c
 *	  Acks (one id or many, delete or archive) and set_vt: a delete through the
 *	  table access method in READ COMMITTED, the statements otherwise, and
 *	  the dedup keys of acked messages remembered for dedup_window.
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

static int	delete_direct(MqQueue *q, int64 msg_id, text **key);

bool
mq_queue_ack(MqQueue *q, TimestampTz now, int64 msg_id, bool archive)
{
	Datum		values[2];
	uint64		n;

	mq_queue_lock_queue(q);
	if (!archive && mq_queue_direct_ok(q))
	{
		text	   *key;
		int			deleted = delete_direct(q, msg_id, &key);

		if (deleted >= 0)
		{
			if (key != NULL && mq_queue_has_dedup_window(q))
			{
				Datum		k = PointerGetDatum(key);
				Datum		id = Int64GetDatum(msg_id);

				mq_spi_connect();
				mq_queue_remember_keys(q, now, &k, &id, 1);
				SPI_finish();
			}
			return deleted > 0;
		}
	}

	mq_spi_connect();
	if (archive)
	{
		Datum		id = Int64GetDatum(msg_id);

		values[0] = PointerGetDatum(construct_array(&id, 1, INT8OID, 8,
													FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		values[1] = TimestampTzGetDatum(now);
		mq_queue_execute(q, MQ_PLAN_ARCHIVE_MANY, values, NULL,
						SPI_OK_INSERT_RETURNING);
	}
	else
	{
		values[0] = Int64GetDatum(msg_id);
		mq_queue_execute(q, MQ_PLAN_DELETE, values, NULL,
						SPI_OK_DELETE_RETURNING);
	}
	n = SPI_processed;
	mq_queue_remember_result_keys(q, now, 1, 2);
	SPI_finish();
	return n > 0;
}

void
mq_queue_ack_many(MqQueue *q, TimestampTz now, ArrayType *ids, bool archive,
				  Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[2];

	mq_queue_lock_queue(q);
	values[0] = PointerGetDatum(ids);
	values[1] = TimestampTzGetDatum(now);

	mq_spi_connect();
	if (archive)
		mq_queue_execute(q, MQ_PLAN_ARCHIVE_MANY, values, NULL,
						SPI_OK_INSERT_RETURNING);
	else
		mq_queue_execute(q, MQ_PLAN_DELETE_MANY, values, NULL,
						SPI_OK_DELETE_RETURNING);
	mq_queue_remember_result_keys(q, now, 1, 2);
	mq_queue_put_ids(out, outdesc);
	SPI_finish();
}

bool
mq_queue_set_vt(MqQueue *q, int64 msg_id, TimestampTz vt)
{
	Datum		values[2];
	uint64		n;

	mq_queue_lock_queue(q);
	values[0] = Int64GetDatum(msg_id);
	values[1] = TimestampTzGetDatum(vt);

	mq_spi_connect();
	mq_queue_execute(q, MQ_PLAN_SET_VT, values, NULL, SPI_OK_UPDATE);
	n = SPI_processed;
	SPI_finish();
	return n > 0;
}

/*
 * Delete message msg_id of q without SQL.  Returns 1 if deleted, 0 if there
 * is no such message, -1 if the SQL statement must do it.  *key gets its
 * dedup key (or NULL).  Like DELETE in READ COMMITTED, waits for a
 * transaction that holds the row and, when that one changed it, deletes
 * the new version.
 */
static int
delete_direct(MqQueue *q, int64 msg_id, text **key)
{
	Relation	rel = mq_queue_open_table(q);
	Relation	index;
	Oid			indexid;
	TupleTableSlot *slot;
	ScanKeyData scankey;
	CommandId	cid;
	int			deleted = 0;

	*key = NULL;
	if (rel == NULL)
		return -1;
	indexid = mq_primary_key_index(rel);
	if (!OidIsValid(indexid))
	{
		table_close(rel, NoLock);
		return -1;
	}

	CommandCounterIncrement();
	cid = GetCurrentCommandId(true);
	index = index_open(indexid, RowExclusiveLock);
	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&scankey, 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(msg_id));
	for (;;)
	{
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
		IndexScanDesc scan = mq_index_beginscan(rel, index, snapshot, 1);
		TM_FailureData tmfd;
		TM_Result	result;
		bool		found;

		index_rescan(scan, &scankey, 1, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, slot);
		index_endscan(scan);
		if (!found)
		{
			UnregisterSnapshot(snapshot);
			break;
		}
		result = mq_tuple_delete(rel, &slot->tts_tid, cid, snapshot, true,
								 &tmfd);
		UnregisterSnapshot(snapshot);
		if (result == TM_Ok)
		{
			bool		isnull;
			Datum		k = slot_getattr(slot, Anum_mq_message_dedup_key, &isnull);

			if (!isnull)
				*key = DatumGetTextPCopy(k);
			deleted = 1;
			break;
		}
		/* changed by a transaction that committed meanwhile: look again */
		if (result != TM_Updated)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	CommandCounterIncrement();
	return deleted;
}
