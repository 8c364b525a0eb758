/*-------------------------------------------------------------------------
 *
 * queue_insert.c
 *	  Sends: one message or a batch into a queue's table, with the queue's
 *	  policy (idempotent send by dedup key, max_length with reject or
 *	  drop_head).  Messages without a dedup key go through the table access
 *	  method (table_multi_insert() and the executor's index insertion, as
 *	  COPY does); the others through the kept statements.  See src/README.md
 *	  ("Storage").  A send to a 'replicated' queue first asks durability.c
 *	  for its standbys, so a refused send writes nothing.
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

#include "args.h"
#include "compat.h"
#include "guc.h"
#include "durability.h"
#include "queue_hint.h"
#include "queue_int.h"
#include "wait.h"

/*
 * Messages without dedup keys go straight into the table with
 * table_multi_insert() and the executor's index insertion, as COPY does:
 * for a batch, one WAL record and one buffer lock per page of messages
 * instead of one per message; for a single send, no plan and no executor
 * start-up.  The caller has checked the messages and the privileges (the
 * table's own are closed; this path does not consult them).
 *
 * mq_queue_open_table() returns NULL when the table has triggers (somebody
 * added one to mq's table): then the SQL path runs, and the triggers with it.
 * It does so too when mq.direct_access is off.
 */
#define MQ_MULTI_INSERT_CHUNK 1000

static void insert_rows(MqQueue *q, Relation rel, int n, TimestampTz now,
						TimestampTz vt, int32 priority, const MqMessage *msgs,
						Datum *headers, bool *hnulls, Datum *groups,
						bool *gnulls, int64 *ids);
static bool multi_insert(MqQueue *q, TimestampTz now, TimestampTz vt,
						 int32 priority, MqBatch *batch, Tuplestorestate *out,
						 TupleDesc outdesc);

/*
 * Serialise the senders of a queue with max_length for the rest of the
 * transaction (and the moves of dead letters into it).
 */
static void
storage_lock_senders(MqQueue *q)
{
	if (q->max_length == 0)
		return;
	mq_queue_lock_senders(q->id);
}

/*
 * Make room for n new messages in a queue with max_length: lock out the
 * other senders, count, and with overflow 'drop_head' drop the oldest
 * messages that are not leased.  Returns how many of the n fit (n without
 * max_length); *length is then the queue's length.  The caller is connected
 * to SPI.
 */
int64
mq_queue_make_room(MqQueue *q, TimestampTz now, int64 n, int64 *length)
{
	int64		excess;

	*length = 0;
	if (q->max_length == 0)
		return n;

	storage_lock_senders(q);

	mq_queue_execute(q, MQ_PLAN_COUNT, NULL, NULL, SPI_OK_SELECT);
	*length = mq_queue_result_int64(0, 1);
	excess = *length + n - q->max_length;
	if (excess > 0 && q->drop_head && n <= q->max_length)
	{
		Datum		values[2];

		values[0] = TimestampTzGetDatum(now);
		values[1] = Int64GetDatum(excess);
		mq_queue_execute(q, MQ_PLAN_DROP_HEAD, values, NULL, SPI_OK_SELECT);
		mq_queue_count(q, 0, 0, mq_queue_result_int64(0, 1));
		/* leased messages are never dropped: there may still be no room */
		mq_queue_execute(q, MQ_PLAN_COUNT, NULL, NULL, SPI_OK_SELECT);
		*length = mq_queue_result_int64(0, 1);
	}
	return Max(0, Min(n, q->max_length - *length));
}

/* Make room for n new messages, or refuse them all (a send). */
static void
storage_make_room(MqQueue *q, TimestampTz now, int64 n)
{
	int64		length;

	if (q->max_length == 0 || mq_queue_make_room(q, now, n, &length) == n)
		return;
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
	values[1] = TimestampTzGetDatum(mq_queue_time_before(now, &q->dedup_window));
	mq_queue_execute(q, kind, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? mq_queue_result_int64(0, 1) : -1;
}

/* Send one message, with the caller connected to SPI. */
static int64
storage_send_one(MqQueue *q, TimestampTz now, TimestampTz vt, int32 priority,
				 text *group_key, text *dedup_key, Jsonb *headers,
				 const MqMessage *m)
{
	Datum		values[MQ_SEND_NARGS];
	char		nulls[MQ_SEND_NARGS];
	Pointer		ptrs[MQ_SEND_NARGS] = {
		NULL, NULL, NULL, (Pointer) group_key, (Pointer) dedup_key,
		(Pointer) headers, (Pointer) m->body, (Pointer) m->payload,
		(Pointer) m->content_type, (Pointer) m->content_encoding,
		(Pointer) m->correlation_id, (Pointer) m->reply_to, NULL,
		(Pointer) m->sent_by
	};
	int64		msg_id;
	int			attempt;
	int			i;

	for (i = 3; i < MQ_SEND_NARGS; i++)
	{
		values[i] = PointerGetDatum(ptrs[i]);
		nulls[i] = ptrs[i] == NULL ? 'n' : ' ';
	}
	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	values[2] = Int32GetDatum(priority);
	nulls[0] = nulls[1] = nulls[2] = ' ';
	values[12] = TimestampTzGetDatum(m->expires_at);
	nulls[12] = m->expires_at == 0 ? 'n' : ' ';

	if (dedup_key == NULL)
	{
		Relation	rel;

		storage_make_room(q, now, 1);
		if ((rel = mq_queue_open_table_insert(q)) != NULL)
		{
			bool		hnull = (headers == NULL);
			bool		gnull = (group_key == NULL);

			insert_rows(q, rel, 1, now, vt, priority, m,
						&values[5], &hnull, &values[3], &gnull, &msg_id);
			return msg_id;
		}
		mq_queue_execute(q, MQ_PLAN_SEND, values, nulls, SPI_OK_INSERT_RETURNING);
		msg_id = mq_queue_result_int64(0, 1);
		mq_queue_inserted(q, priority, msg_id);
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
		mq_queue_execute(q, MQ_PLAN_SEND_DEDUP, values, nulls,
						SPI_OK_INSERT_RETURNING);
		if (SPI_processed == 0)
			continue;			/* someone else's message has the key */
		msg_id = mq_queue_result_int64(0, 1);
		mq_queue_inserted(q, priority, msg_id);

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

				mq_queue_execute(q, MQ_PLAN_DELETE, &id, NULL,
								SPI_OK_DELETE_RETURNING);
				return acked;
			}
		}
		return msg_id;
	}
}

/*
 * Send one message to q.  Every sender (mq.send, mq.publish, the triggers)
 * comes through here or mq_queue_send_batch(), which also note the queue
 * for the wakeup of its readers at commit (wait.c).
 */
int64
mq_queue_send(MqQueue *q, TimestampTz now, TimestampTz vt, int32 priority,
			  text *group_key, text *dedup_key, Jsonb *headers,
			  const MqMessage *m)
{
	int64		msg_id;

	mq_check_message_key(group_key, "group_key");
	mq_check_message_key(dedup_key, "dedup_key");
	mq_durability_require(q->min_replicas, "queue", q->name);
	mq_queue_lock_queue(q);
	mq_wake_at_commit(q);
	mq_spi_connect();
	msg_id = storage_send_one(q, now, vt, priority, group_key, dedup_key,
							  headers, m);
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

/*
 * The content types of a batch as the send statement takes them: one per
 * message, a payload's default filled in (NULL: none has a payload)
 */
static ArrayType *
batch_content_types(const MqBatchMessages *b)
{
	Datum	   *types;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1] = {1};
	int			i;

	if (b->payloads.array == NULL)
		return NULL;
	types = palloc(sizeof(Datum) * b->n);
	nulls = palloc(sizeof(bool) * b->n);
	for (i = 0; i < b->n; i++)
	{
		MqMessage	m;

		mq_batch_message(b, i, &m);
		types[i] = PointerGetDatum(m.content_type);
		nulls[i] = m.content_type == NULL;
	}
	dims[0] = b->n;
	return construct_md_array(types, nulls, 1, dims, lbs, TEXTOID, -1, false,
							  TYPALIGN_INT);
}

void
mq_queue_send_batch(MqQueue *q, TimestampTz now, TimestampTz vt,
					int32 priority, MqBatch *batch,
					Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[MQ_SEND_BATCH_NARGS];
	char		nulls[MQ_SEND_BATCH_NARGS];
	const MqBatchMessages *msgs = &batch->msgs;
	Pointer		ptrs[MQ_SEND_BATCH_NARGS];
	int			n = batch->n;
	int			i;

	mq_check_message_keys(&batch->group_keys, n, "group_key");
	mq_check_message_keys(&batch->dedup_keys, n, "dedup_key");
	mq_durability_require(q->min_replicas, "queue", q->name);
	mq_queue_lock_queue(q);
	mq_wake_at_commit(q);
	mq_spi_connect();
	if (batch->dedup_keys.array != NULL)
	{
		/* with dedup keys: one idempotent send per message, in order */
		for (i = 0; i < n; i++)
		{
			Datum		id;
			bool		isnull = false;
			MqMessage	m;

			mq_batch_message(msgs, i, &m);
			id = Int64GetDatum(storage_send_one(q, now, vt, priority,
												(text *) batch_element(&batch->group_keys, i),
												(text *) batch_element(&batch->dedup_keys, i),
												(Jsonb *) batch_element(&batch->headers, i),
												&m));
			tuplestore_putvalues(out, outdesc, &id, &isnull);
		}
		SPI_finish();
		return;
	}

	storage_make_room(q, now, n);
	if (multi_insert(q, now, vt, priority, batch, out, outdesc))
	{
		SPI_finish();
		return;
	}
	/* the parameters of MQ_PLAN_SEND_BATCH (queue_statement.c) */
	ptrs[3] = (Pointer) batch->group_keys.array;
	ptrs[4] = (Pointer) batch->headers.array;
	ptrs[5] = (Pointer) msgs->bodies.array;
	ptrs[6] = (Pointer) msgs->payloads.array;
	ptrs[7] = (Pointer) batch_content_types(msgs);
	ptrs[8] = (Pointer) msgs->shared.content_encoding;
	ptrs[9] = (Pointer) msgs->shared.reply_to;
	ptrs[11] = (Pointer) msgs->shared.sent_by;
	ptrs[12] = (Pointer) msgs->correlation_ids.array;
	for (i = 3; i < MQ_SEND_BATCH_NARGS; i++)
	{
		values[i] = PointerGetDatum(ptrs[i]);
		nulls[i] = ptrs[i] == NULL ? 'n' : ' ';
	}
	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	values[2] = Int32GetDatum(priority);
	nulls[0] = nulls[1] = nulls[2] = ' ';
	values[10] = TimestampTzGetDatum(msgs->shared.expires_at);
	nulls[10] = msgs->shared.expires_at == 0 ? 'n' : ' ';
	mq_queue_execute(q, MQ_PLAN_SEND_BATCH, values, nulls,
					SPI_OK_INSERT_RETURNING);
	if (SPI_processed > 0)
	{
		int64		first = PG_INT64_MAX;
		uint64		i;

		for (i = 0; i < SPI_processed; i++)
			first = Min(first, mq_queue_result_int64(i, 1));
		mq_queue_inserted(q, priority, first);
	}
	mq_queue_put_ids(out, outdesc);
	SPI_finish();
}

/* where a message table keeps the columns of a message (queue_int.h) */
static const MqMessageAttnums message_attnums = {
	Anum_mq_message_body, Anum_mq_message_payload,
	Anum_mq_message_content_type, Anum_mq_message_content_encoding,
	Anum_mq_message_correlation_id, Anum_mq_message_reply_to,
	Anum_mq_message_sent_by, Anum_mq_message_expires_at
};

/*
 * Insert n messages into rel (from mq_queue_open_table), closing it; their
 * ids go to ids[].  headers and groups may be NULL.
 */
static void
insert_rows(MqQueue *q, Relation rel, int n, TimestampTz now,
			TimestampTz vt, int32 priority, const MqMessage *msgs,
			Datum *headers, bool *hnulls, Datum *groups, bool *gnulls,
			int64 *ids)
{
	int			nslots = Min(n, MQ_MULTI_INSERT_CHUNK);
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	BulkInsertState bistate = n > 1 ? GetBulkInsertState() : NULL;
	CommandId	cid = GetCurrentCommandId(true);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * nslots);
	int			i,
				done;

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	for (i = 0; i < nslots; i++)
		slots[i] = table_slot_create(rel, NULL);

	for (done = 0; done < n; done += MQ_MULTI_INSERT_CHUNK)
	{
		int			chunk = Min(n - done, MQ_MULTI_INSERT_CHUNK);

		for (i = 0; i < chunk; i++)
		{
			TupleTableSlot *slot = slots[i];
			int			row = done + i;

			ExecClearTuple(slot);
			ids[row] = nextval_internal(mq_queue_state(q)->seqid, false);
			slot->tts_values[MQ_COL(Anum_mq_message_msg_id)] = Int64GetDatum(ids[row]);
			slot->tts_values[MQ_COL(Anum_mq_message_read_ct)] = Int32GetDatum(0);
			slot->tts_values[MQ_COL(Anum_mq_message_enqueued_at)] = TimestampTzGetDatum(now);
			slot->tts_values[MQ_COL(Anum_mq_message_vt)] = TimestampTzGetDatum(vt);
			slot->tts_values[MQ_COL(Anum_mq_message_priority)] = Int32GetDatum(priority);
			slot->tts_values[MQ_COL(Anum_mq_message_group_key)] = groups ? groups[row] : (Datum) 0;
			slot->tts_values[MQ_COL(Anum_mq_message_dedup_key)] = (Datum) 0;
			slot->tts_values[MQ_COL(Anum_mq_message_headers)] = headers ? headers[row] : (Datum) 0;
			memset(slot->tts_isnull, 0, sizeof(bool) * Natts_mq_message);
			slot->tts_isnull[MQ_COL(Anum_mq_message_group_key)] = groups == NULL || gnulls[row];
			slot->tts_isnull[MQ_COL(Anum_mq_message_dedup_key)] = true;
			slot->tts_isnull[MQ_COL(Anum_mq_message_headers)] = headers == NULL || hnulls[row];
			mq_message_values(&msgs[row], &message_attnums, slot->tts_values,
							  slot->tts_isnull);
			ExecStoreVirtualTuple(slot);
		}
		table_multi_insert(rel, slots, chunk, cid, 0, bistate);
		for (i = 0; i < chunk; i++)
		{
			ResetPerTupleExprContext(estate);
			mq_insert_index_tuples(rri, slots[i], estate, MQ_INDEX_ALL);
		}
	}

	/* ids come from the sequence in order: ids[0] is the first */
	if (n > 0)
		mq_queue_inserted(q, priority, ids[0]);
	for (i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	if (bistate)
		FreeBulkInsertState(bistate);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	CommandCounterIncrement();
}

/* A batch without dedup keys; false when the SQL path must do it. */
static bool
multi_insert(MqQueue *q, TimestampTz now, TimestampTz vt, int32 priority,
			 MqBatch *batch, Tuplestorestate *out, TupleDesc outdesc)
{
	Relation	rel = mq_queue_open_table_insert(q);
	int			n = batch->n;
	int64	   *ids;
	MqMessage  *msgs;
	int			i;

	if (rel == NULL)
		return false;
	ids = palloc(sizeof(int64) * n);
	msgs = palloc(sizeof(MqMessage) * n);
	for (i = 0; i < n; i++)
		mq_batch_message(&batch->msgs, i, &msgs[i]);
	insert_rows(q, rel, n, now, vt, priority, msgs,
				batch->headers.values, batch->headers.nulls,
				batch->group_keys.values, batch->group_keys.nulls, ids);
	for (i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(ids[i]);
		bool		isnull = false;

		tuplestore_putvalues(out, outdesc, &id, &isnull);
	}
	return true;
}
