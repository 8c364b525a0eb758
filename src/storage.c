/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The per-queue message tables: the mq_storage_* entry points and their
 *	  policy (dedup, max_length, counters, dead letters, which path a take
 *	  goes), over the statements of storage_sql.c and the access-method path
 *	  of storage_am.c.  The table layout is in storage_int.h; the design in
 *	  src/README.md ("Storage").
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
#include "hint.h"
#include "storage_int.h"
#include "wait.h"


PG_FUNCTION_INFO_V1(mq_table_changed);

/* advisory lock key (field4) that serialises sends to a bounded queue */
#define MQ_LOCKTAG_MAX_LENGTH 0x6d71

/* Free storage's part of a cached queue: its kept plans (queue.c calls it). */
static void
storage_release(MqStorage *st)
{
	int			i;

	for (i = 0; i < MQ_NUM_PLANS; i++)
		if (st->plans[i] != NULL)
			SPI_freeplan(st->plans[i]);
}

/* Storage's part of cached queue q, made on first use. */
MqStorage *
mq_storage_state(MqQueue *q)
{
	if (q->storage == NULL)
	{
		q->storage = MemoryContextAllocZero(mq_queue_cache_context(),
											sizeof(MqStorage));
		q->release_storage = storage_release;
	}
	return q->storage;
}

/*
 * Lock q's message table for the rest of the transaction, as a statement
 * on it would, and check that it still exists: a drop_queue() that
 * committed after we looked the queue up, or while we waited for the lock,
 * has removed it.  Every entry point below calls this first, so a
 * concurrent drop gives the usual error, never an internal one, and the
 * plans kept for the queue never meet a missing table.
 */
void
mq_storage_lock_queue(MqQueue *q)
{
	if (!OidIsValid(mq_storage_state(q)->relid))
		mq_storage_state(q)->relid = get_relname_relid(psprintf("q_%d", q->id),
									 get_namespace_oid("mq", false));
	if (OidIsValid(mq_storage_state(q)->relid))
	{
		LockRelationOid(mq_storage_state(q)->relid, RowExclusiveLock);
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(mq_storage_state(q)->relid)))
			return;
		UnlockRelationOid(mq_storage_state(q)->relid, RowExclusiveLock);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("queue \"%s\" does not exist", q->name),
			 errdetail("It was dropped while this call was under way."),
			 errhint("Create it with mq.create_queue().")));
}

/*
 * Rows at or after (priority, msg_id) were just inserted into q's table:
 * readers must not start past them (hint.c).
 */
void
mq_storage_inserted(MqQueue *q, int32 priority, int64 msg_id)
{
	MqKey		key;

	key.priority = priority;
	key.msg_id = msg_id;
	mq_hint_lower(q->id, &key);
}

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

/*
 * now minus an interval of a queue's options.  One longer than mq allows
 * (kept from 0.1.0, which did not check) reaches back to the beginning of
 * time: nothing is that old.
 */
TimestampTz
mq_storage_time_before(TimestampTz now, Interval *iv)
{
	if (mq_interval_too_long(iv))
		return DT_NOBEGIN;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												   TimestampTzGetDatum(now),
												   IntervalPGetDatum(iv)));
}

/* Add to the counters of messages that left q other than by ack. */
static void
storage_count(MqQueue *q, int64 dead_lettered, int64 expired, int64 dropped)
{
	Datum		values[3];

	if (dead_lettered == 0 && expired == 0 && dropped == 0)
		return;
	storage_dead_lettered_into(q);
	values[0] = Int64GetDatum(dead_lettered);
	values[1] = Int64GetDatum(expired);
	values[2] = Int64GetDatum(dropped);
	mq_storage_execute(q, MQ_PLAN_STATS, values, NULL, SPI_OK_UPDATE);
}

/* Is there a dedup window, so that removed keys must be remembered? */
static bool
has_dedup_window(MqQueue *q)
{
	return q->dedup_window.time != 0 || q->dedup_window.day != 0 ||
		q->dedup_window.month != 0;
}

/*
 * Remember n dedup keys (text) of messages that were just acked (or popped,
 * or archived), with their ids (bigint), so that a send of the same key
 * within dedup_window is still a no-op.  The caller is connected to SPI.
 */
static void
remember_keys(MqQueue *q, TimestampTz now, Datum *keys, Datum *ids, int n)
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
	mq_storage_execute(q, MQ_PLAN_REMEMBER_KEYS, values, NULL, SPI_OK_INSERT);
}

/*
 * remember_keys() for the rows of the current SPI result: columns idcol and
 * keycol hold ids and keys.  Leaves that result to the caller.
 */
static void
storage_remember_keys(MqQueue *q, TimestampTz now, int idcol, int keycol)
{
	uint64		n = SPI_processed;
	SPITupleTable *tuptable = SPI_tuptable;
	Datum	   *keys;
	Datum	   *ids;
	int			nkeys = 0;
	uint64		i;

	if (n == 0 || !has_dedup_window(q))
		return;

	keys = palloc(sizeof(Datum) * n);
	ids = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		key;

		/* a dead-lettered row (lease and pop results) releases its key */
		if (tuptable->tupdesc->natts > 9)
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
	remember_keys(q, now, keys, ids, nkeys);
	SPI_tuptable = tuptable;	/* let the caller read its result on */
	SPI_processed = n;
}

/* Copy the first column (bigint) of every result row to out. */
static void
storage_put_ids(Tuplestorestate *out, TupleDesc outdesc)
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

typedef struct MessageOrder
{
	MqKey		key;
	uint64		row;
} MessageOrder;

static int
message_order_cmp(const void *a, const void *b)
{
	return mq_key_cmp(&((const MessageOrder *) a)->key,
					  &((const MessageOrder *) b)->key);
}

/*
 * Copy the delivered messages of a lease or pop result to out, in delivery
 * order (RETURNING gives them in no particular order).  A tenth column, when
 * there is one, is the reason a row was dead-lettered instead: such rows are
 * counted in *dead_lettered or *expired, not delivered.  Returns the number
 * delivered.
 */
static uint64
storage_put_messages(Tuplestorestate *out, TupleDesc outdesc,
					 int64 *dead_lettered, int64 *expired)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	uint64		n = SPI_processed;
	MessageOrder *order = palloc(sizeof(MessageOrder) * (n + 1));
	uint64		delivered = 0;
	Datum		values[10];
	bool		nulls[10];
	uint64		i;

	Assert(outdesc->natts == 9);
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		if (desc->natts > 9)
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

/*
 * Serialise the senders of a queue with max_length for the rest of the
 * transaction: an advisory lock of our own kind, so it never meets a user's
 * advisory lock.
 */
static void
storage_lock_senders(MqQueue *q)
{
	LOCKTAG		tag;

	if (q->max_length == 0)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, (uint32) q->id,
						 MQ_LOCKTAG_MAX_LENGTH);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Make room for n new messages in a queue with max_length: lock out the
 * other senders, count, and either refuse or drop the oldest messages.  The
 * caller is connected to SPI.
 */
static void
storage_make_room(MqQueue *q, TimestampTz now, int64 n)
{
	int64		length;
	int64		excess;

	if (q->max_length == 0)
		return;

	storage_lock_senders(q);

	mq_storage_execute(q, MQ_PLAN_COUNT, NULL, NULL, SPI_OK_SELECT);
	length = mq_storage_result_int64(0, 1);
	excess = length + n - q->max_length;
	if (excess <= 0)
		return;

	if (q->drop_head && n <= q->max_length)
	{
		Datum		values[2];

		values[0] = TimestampTzGetDatum(now);
		values[1] = Int64GetDatum(excess);
		mq_storage_execute(q, MQ_PLAN_DROP_HEAD, values, NULL, SPI_OK_SELECT);
		storage_count(q, 0, 0, mq_storage_result_int64(0, 1));
		/* leased messages are never dropped: there may still be no room */
		mq_storage_execute(q, MQ_PLAN_COUNT, NULL, NULL, SPI_OK_SELECT);
		length = mq_storage_result_int64(0, 1);
		if (length + n <= q->max_length)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("queue \"%s\" is full", q->name),
			 errdetail("The queue holds " INT64_FORMAT " messages and its max_length is " INT64_FORMAT "; this send adds " INT64_FORMAT ".",
					   length, q->max_length, n),
			 errhint("Consume messages, raise max_length with mq.alter_queue(), or declare the queue with overflow => 'drop_head'.")));
}

/* The id of the message with this dedup key in q, or acked recently; -1 */
static int64
storage_find_key(MqQueue *q, MqPlanKind kind, text *key, TimestampTz now)
{
	Datum		values[2];

	values[0] = PointerGetDatum(key);
	values[1] = TimestampTzGetDatum(mq_storage_time_before(now, &q->dedup_window));
	mq_storage_execute(q, kind, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? mq_storage_result_int64(0, 1) : -1;
}

/* Send one message, with the caller connected to SPI. */
static int64
storage_send_one(MqQueue *q, TimestampTz now, TimestampTz vt, int32 priority,
				 text *group_key, text *dedup_key, Jsonb *headers, Jsonb *body)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		msg_id;
	int			attempt;

	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	values[2] = Int32GetDatum(priority);
	values[3] = PointerGetDatum(group_key);
	values[4] = PointerGetDatum(dedup_key);
	values[5] = PointerGetDatum(headers);
	values[6] = PointerGetDatum(body);
	if (group_key == NULL)
		nulls[3] = 'n';
	if (dedup_key == NULL)
		nulls[4] = 'n';
	if (headers == NULL)
		nulls[5] = 'n';

	if (dedup_key == NULL)
	{
		Relation	rel;

		storage_make_room(q, now, 1);
		if ((rel = mq_storage_open_table(q)) != NULL)
		{
			bool		hnull = (headers == NULL);
			bool		gnull = (group_key == NULL);

			mq_storage_insert_rows(q, rel, 1, now, vt, priority, &values[6],
								&values[5], &hnull, &values[3], &gnull,
								&msg_id);
			return msg_id;
		}
		mq_storage_execute(q, MQ_PLAN_SEND, values, nulls, SPI_OK_INSERT_RETURNING);
		msg_id = mq_storage_result_int64(0, 1);
		mq_storage_inserted(q, priority, msg_id);
		return msg_id;
	}

	/*
	 * Idempotent send.  A key that is known is answered with its first
	 * message.  Otherwise insert; a concurrent sender of the same key makes
	 * us wait for its commit and then do nothing, and we look again.  The
	 * loop ends: each turn either returns or finds that the key was released
	 * (its message dead-lettered or purged) in between.
	 *
	 * On a bounded queue the senders' lock comes first: a concurrent sender
	 * of the same key then commits before we look, and we find its message
	 * instead of counting it against the room for a message we never add.
	 */
	storage_lock_senders(q);
	for (attempt = 0;; attempt++)
	{
		msg_id = storage_find_key(q, MQ_PLAN_FIND_KEY, dedup_key, now);
		if (msg_id >= 0)
			return msg_id;
		if (attempt >= 10)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not send to queue \"%s\" with a dedup key that other transactions keep changing",
							q->name),
					 errdetail("Ten tries met a message with the same key that was being sent and released at the same time."),
					 errhint("Retry the transaction.")));

		storage_make_room(q, now, 1);
		mq_storage_execute(q, MQ_PLAN_SEND_DEDUP, values, nulls,
						SPI_OK_INSERT_RETURNING);
		if (SPI_processed == 0)
			continue;			/* someone else's message has the key */
		msg_id = mq_storage_result_int64(0, 1);
		mq_storage_inserted(q, priority, msg_id);

		/*
		 * The first look ran before a concurrent ack of the same key could
		 * commit; that ack released the unique index to us.  If the key was
		 * acked within the window after all, take our message back.
		 */
		{
			int64		acked = storage_find_key(q, MQ_PLAN_RECENT_KEY,
												 dedup_key, now);

			if (acked >= 0)
			{
				Datum		id = Int64GetDatum(msg_id);

				mq_storage_execute(q, MQ_PLAN_DELETE, &id, NULL,
								SPI_OK_DELETE_RETURNING);
				return acked;
			}
		}
		return msg_id;
	}
}

/*
 * Send one message to q.  Every sender (mq.send, mq.publish, the triggers)
 * comes through here or mq_storage_send_batch(), which also note the queue
 * for the wakeup of its readers at commit (wait.c).
 */
int64
mq_storage_send(MqQueue *q, TimestampTz now, TimestampTz vt, int32 priority,
				text *group_key, text *dedup_key, Jsonb *headers, Jsonb *body)
{
	int64		msg_id;

	mq_storage_lock_queue(q);
	mq_wake_at_commit(q);
	mq_spi_connect();
	msg_id = storage_send_one(q, now, vt, priority, group_key, dedup_key,
							  headers, body);
	SPI_finish();
	return msg_id;
}

/* Element i of a batch column, or NULL. */
static Pointer
batch_element(MqBatchColumn *col, int i)
{
	return (col->array == NULL || col->nulls[i]) ? NULL :
		DatumGetPointer(col->values[i]);
}

void
mq_storage_send_batch(MqQueue *q, TimestampTz now, TimestampTz vt,
					  int32 priority, MqBatch *batch,
					  Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			n = batch->n;

	mq_storage_lock_queue(q);
	mq_wake_at_commit(q);
	mq_spi_connect();
	if (batch->dedup_keys.array != NULL)
	{
		/* with dedup keys: one idempotent send per message, in order */
		int			i;

		for (i = 0; i < n; i++)
		{
			Datum		id;
			bool		isnull = false;

			id = Int64GetDatum(storage_send_one(q, now, vt, priority,
												(text *) batch_element(&batch->group_keys, i),
												(text *) batch_element(&batch->dedup_keys, i),
												(Jsonb *) batch_element(&batch->headers, i),
												DatumGetJsonbP(batch->bodies.values[i])));
			tuplestore_putvalues(out, outdesc, &id, &isnull);
		}
		SPI_finish();
		return;
	}

	storage_make_room(q, now, n);
	if (mq_storage_multi_insert(q, now, vt, priority, batch, out, outdesc))
	{
		SPI_finish();
		return;
	}
	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	values[2] = Int32GetDatum(priority);
	values[3] = PointerGetDatum(batch->group_keys.array);
	values[4] = PointerGetDatum(batch->headers.array);
	values[5] = PointerGetDatum(batch->bodies.array);
	if (batch->group_keys.array == NULL)
		nulls[3] = 'n';
	if (batch->headers.array == NULL)
		nulls[4] = 'n';
	mq_storage_execute(q, MQ_PLAN_SEND_BATCH, values, nulls,
					SPI_OK_INSERT_RETURNING);
	if (SPI_processed > 0)
	{
		int64		first = PG_INT64_MAX;
		uint64		i;

		for (i = 0; i < SPI_processed; i++)
			first = Min(first, mq_storage_result_int64(i, 1));
		mq_storage_inserted(q, priority, first);
	}
	storage_put_ids(out, outdesc);
	SPI_finish();
}

/*
 * Lease (or pop) up to qty messages of a queue with fair or group limits:
 * always through a walk (storage_fair.c), which has no SQL form.  A walk
 * that meets a message past its limits stops; the sweep dead-letters it
 * (and every other one), and the walk goes on, passing over any that the
 * sweep could not take (another transaction holds them).
 */
static uint64
storage_take_limited(MqQueue *q, bool pop, TimestampTz now, TimestampTz vt,
					 int64 qty, TimestampTz cutoff, Tuplestorestate *out,
					 TupleDesc outdesc)
{
	Datum	   *keys = pop ? palloc(sizeof(Datum) * qty) : NULL;
	Datum	   *ids = pop ? palloc(sizeof(Datum) * qty) : NULL;
	uint64		delivered = 0;
	bool		skip_dead = false;

	for (;;)
	{
		int			nkeys;
		bool		dead;
		int64		dead_lettered;
		int64		expired;

		if (q->fair)
			delivered += mq_storage_take_fair(q, pop, now, vt, qty - delivered,
											  cutoff, out, outdesc, keys, ids,
											  &nkeys, skip_dead, &dead);
		else
			delivered += mq_storage_take_direct(q, pop, now, vt, qty - delivered,
												cutoff, out, outdesc, &dead,
												keys, ids, &nkeys, true,
												skip_dead);
		if (nkeys > 0 && has_dedup_window(q))
		{
			mq_spi_connect();
			remember_keys(q, now, keys, ids, nkeys);
			SPI_finish();
		}
		if (!dead || delivered >= qty)
			break;
		mq_storage_sweep(q, now, &dead_lettered, &expired);
		skip_dead = true;
		CHECK_FOR_INTERRUPTS();
	}
	return delivered;
}

/*
 * Lease (or, for pop, take) up to qty visible messages.  Candidates past
 * max_receives or message_ttl are dead-lettered on the way; when that leaves
 * the answer short, look again.
 */
static uint64
storage_take_plain(MqQueue *q, MqPlanKind kind, TimestampTz now, TimestampTz vt,
				   int64 qty, TimestampTz cutoff, Tuplestorestate *out,
				   TupleDesc outdesc)
{
	Datum		values[5];
	uint64		delivered = 0;
	bool		dead = mq_storage_has_dead_letters(q);

	if (mq_storage_direct_ok(q))
	{
		bool		more;
		bool		pop = (kind == MQ_PLAN_POP);
		Datum	   *keys = pop ? palloc(sizeof(Datum) * qty) : NULL;
		Datum	   *ids = pop ? palloc(sizeof(Datum) * qty) : NULL;
		int			nkeys;

		delivered = mq_storage_take_direct(q, pop, now, vt, qty, cutoff, out,
										outdesc, &more, keys, ids, &nkeys,
										false, false);
		if (nkeys > 0 && has_dedup_window(q))
		{
			mq_spi_connect();
			remember_keys(q, now, keys, ids, nkeys);
			SPI_finish();
		}
		if (!more || delivered >= qty)
			return delivered;
	}

	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	if (dead)
	{
		values[3] = Int32GetDatum(q->max_receives > 0 ? q->max_receives : PG_INT32_MAX);
		values[4] = TimestampTzGetDatum(cutoff);
	}

	mq_spi_connect();
	for (;;)
	{
		uint64		found;
		uint64		got;
		int64		dead_lettered = 0;
		int64		expired = 0;

		values[2] = Int64GetDatum(qty - delivered);
		mq_storage_execute(q, kind, values, NULL,
						!dead ? (kind == MQ_PLAN_POP ? SPI_OK_DELETE_RETURNING :
								 SPI_OK_UPDATE_RETURNING) : SPI_OK_SELECT);
		found = SPI_processed;
		got = storage_put_messages(out, outdesc, &dead_lettered, &expired);
		if (kind == MQ_PLAN_POP)
			storage_remember_keys(q, now, Anum_mq_message_msg_id, Anum_mq_message_dedup_key);
		storage_count(q, dead_lettered, expired, 0);
		delivered += got;
		/* stop when full, or when nothing was dead-lettered this turn */
		if (delivered >= qty || found == got)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	return delivered;
}

/*
 * Take up to qty messages, as many as q's rate limit allows now (the rest
 * of the tokens go back).  *not_before (if not NULL) gets when the rate
 * limit has a token again if it held the read back, else 0.
 */
static uint64
storage_take(MqQueue *q, MqPlanKind kind, TimestampTz now, TimestampTz vt,
			 int64 qty, Tuplestorestate *out, TupleDesc outdesc,
			 TimestampTz *not_before)
{
	TimestampTz cutoff = q->has_ttl ? mq_storage_time_before(now, &q->message_ttl) :
		DT_NOBEGIN;
	int64		allowed = qty;
	uint64		delivered;

	if (not_before != NULL)
		*not_before = 0;
	mq_storage_lock_queue(q);
	if (q->rate.limit > 0)
	{
		TimestampTz next_at = 0;

		allowed = mq_limits_take(q->id, 0, &q->rate, qty, now, &next_at);
		if (allowed < qty)
		{
			mq_limits_count_held_back(q->id, false);
			if (allowed == 0 && not_before != NULL)
				*not_before = next_at;
		}
		if (allowed == 0)
			return 0;
	}
	if (q->fair || mq_queue_has_group_limits(q))
		delivered = storage_take_limited(q, kind == MQ_PLAN_POP, now, vt,
										 allowed, cutoff, out, outdesc);
	else
		delivered = storage_take_plain(q, kind, now, vt, allowed, cutoff, out,
									   outdesc);
	if (delivered < (uint64) allowed)
		mq_limits_give_back(q->id, 0, &q->rate, allowed - delivered);
	return delivered;
}

uint64
mq_storage_lease(MqQueue *q, TimestampTz now, TimestampTz vt, int64 qty,
				 Tuplestorestate *out, TupleDesc outdesc,
				 TimestampTz *not_before)
{
	return storage_take(q, MQ_PLAN_LEASE, now, vt, qty, out, outdesc,
						not_before);
}

uint64
mq_storage_pop(MqQueue *q, TimestampTz now, int64 qty,
			   Tuplestorestate *out, TupleDesc outdesc)
{
	return storage_take(q, MQ_PLAN_POP, now, now, qty, out, outdesc, NULL);
}

bool
mq_storage_ack(MqQueue *q, TimestampTz now, int64 msg_id, bool archive)
{
	Datum		values[2];
	uint64		n;

	mq_storage_lock_queue(q);
	if (!archive && mq_storage_direct_ok(q))
	{
		text	   *key;
		int			deleted = mq_storage_delete_direct(q, msg_id, &key);

		if (deleted >= 0)
		{
			if (key != NULL && has_dedup_window(q))
			{
				Datum		k = PointerGetDatum(key);
				Datum		id = Int64GetDatum(msg_id);

				mq_spi_connect();
				remember_keys(q, now, &k, &id, 1);
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
		mq_storage_execute(q, MQ_PLAN_ARCHIVE_MANY, values, NULL,
						SPI_OK_INSERT_RETURNING);
	}
	else
	{
		values[0] = Int64GetDatum(msg_id);
		mq_storage_execute(q, MQ_PLAN_DELETE, values, NULL,
						SPI_OK_DELETE_RETURNING);
	}
	n = SPI_processed;
	storage_remember_keys(q, now, 1, 2);
	SPI_finish();
	return n > 0;
}

void
mq_storage_ack_many(MqQueue *q, TimestampTz now, ArrayType *ids, bool archive,
					Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[2];

	mq_storage_lock_queue(q);
	values[0] = PointerGetDatum(ids);
	values[1] = TimestampTzGetDatum(now);

	mq_spi_connect();
	if (archive)
		mq_storage_execute(q, MQ_PLAN_ARCHIVE_MANY, values, NULL,
						SPI_OK_INSERT_RETURNING);
	else
		mq_storage_execute(q, MQ_PLAN_DELETE_MANY, values, NULL,
						SPI_OK_DELETE_RETURNING);
	storage_remember_keys(q, now, 1, 2);
	storage_put_ids(out, outdesc);
	SPI_finish();
}

bool
mq_storage_set_vt(MqQueue *q, int64 msg_id, TimestampTz vt)
{
	Datum		values[2];
	uint64		n;

	mq_storage_lock_queue(q);
	values[0] = Int64GetDatum(msg_id);
	values[1] = TimestampTzGetDatum(vt);

	mq_spi_connect();
	mq_storage_execute(q, MQ_PLAN_SET_VT, values, NULL, SPI_OK_UPDATE);
	n = SPI_processed;
	SPI_finish();
	return n > 0;
}

/*
 * Rows were put into q's table by SQL that mq does not see (mq.redrive()):
 * readers must look from the start of the queue, and waiting ones (and, for
 * a queue with notify, listeners) hear of it at commit.
 */
void
mq_storage_announce(MqQueue *q)
{
	mq_hint_reset(q->id);
	mq_wake_queue_at_commit(q->id, true);
}

/*
 * mq._table_changed(): an AFTER INSERT OR UPDATE statement trigger on every
 * message table.  Rows that mq's own statements write move the scan hint
 * themselves (and the direct path fires no triggers); rows that somebody
 * else writes -- an INSERT by hand, an UPDATE of a priority -- may land
 * before the hint, so the hint is reset and waiting readers are woken at
 * commit, as mq.redrive() does.  Without it the hints would have to be
 * distrusted every few hundred milliseconds, and a scan from the start of
 * a queue walks every dead entry a held snapshot keeps: that walk, not the
 * dead rows themselves, made reads collapse behind a long transaction.
 */
Datum
mq_table_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	int32		queue_id;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mq._table_changed() must be called as a trigger")));
	if (mq_storage_own_statement)
		return PointerGetDatum(NULL);
	if (RelationGetNamespace(td->tg_relation) != get_namespace_oid("mq", false) ||
		sscanf(RelationGetRelationName(td->tg_relation), "q_%d", &queue_id) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mq._table_changed() is for the message tables of queues")));
	mq_hint_reset(queue_id);
	mq_wake_queue_at_commit(queue_id, false);
	return PointerGetDatum(NULL);
}

/*
 * Move every message of q that is past max_receives (and visible) or past
 * message_ttl (and not leased) to where its dead letters go.  Counts go to
 * *dead_lettered and *expired.
 */
void
mq_storage_sweep(MqQueue *q, TimestampTz now, int64 *dead_lettered,
				 int64 *expired)
{
	Datum		values[4];

	*dead_lettered = *expired = 0;
	if (!mq_storage_has_dead_letters(q))
		return;
	mq_storage_lock_queue(q);

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(q->max_receives > 0 ? q->max_receives : PG_INT32_MAX);
	values[2] = TimestampTzGetDatum(q->has_ttl ?
									mq_storage_time_before(now, &q->message_ttl) :
									DT_NOBEGIN);
	values[3] = Int64GetDatum(MQ_SWEEP_BATCH);

	mq_spi_connect();
	for (;;)
	{
		uint64		i;
		int64		d = 0,
					e = 0;

		mq_storage_execute(q, MQ_PLAN_SWEEP, values, NULL, SPI_OK_SELECT);
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
		storage_count(q, d, e, 0);
		*dead_lettered += d;
		*expired += e;
		if (d + e < MQ_SWEEP_BATCH)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
}
