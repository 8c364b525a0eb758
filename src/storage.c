/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The per-queue message tables and the statements run against them.
 *
 * Each queue has a message table mq.q_<id>:
 *
 *	msg_id		bigint identity, primary key
 *	read_ct		how many times the message was handed out
 *	enqueued_at	when it was sent
 *	vt			when it is (or becomes again) visible: the lease end
 *	priority, group_key, dedup_key, headers, body
 *
 * and an archive table mq.a_<id> with the same columns plus archived_at.
 * The only secondary index is (priority DESC, msg_id), the delivery order;
 * vt and read_ct are not indexed, so taking a lease is a HOT update.
 *
 * Every statement is prepared once per backend and queue with SPI_prepare,
 * kept with SPI_keepplan in the queue's cache entry (queue.c frees it when
 * the catalog changes) and run with typed parameters: user data is never
 * SQL text, and every operator is schema-qualified so that the caller's
 * search_path cannot redirect it.
 *
 * A lease is one statement: select the first visible rows in delivery
 * order with FOR UPDATE SKIP LOCKED and update their vt and read_ct.  Two
 * readers never get the same row: the second either skips the locked row
 * or, once the first has committed, rechecks vt against the new row
 * version and finds it leased.  Times come from the caller, who reads the
 * clock (GetCurrentTimestamp), not the transaction start.
 *
 * This file is the only one that knows the table layout, so the storage
 * can be redesigned without touching the SQL API.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "storage.h"

/* the columns of mq.message, in order, from a message table aliased q */
#define MESSAGE_COLUMNS \
	"q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.priority, q.group_key," \
	" q.dedup_key, q.headers, q.body"

/* the next visible messages in delivery order, locked */
#define NEXT_VISIBLE \
	"WITH c AS (SELECT msg_id FROM mq.q_%1$d" \
	" WHERE vt OPERATOR(pg_catalog.<=) $1" \
	" ORDER BY priority DESC, msg_id LIMIT $%2$d FOR UPDATE SKIP LOCKED) "

typedef struct MqStatement
{
	const char *sql;			/* %1$d is the queue id */
	int			nargs;
	Oid			argtypes[7];
} MqStatement;

static const MqStatement statements[MQ_NUM_PLANS] = {
	[MQ_PLAN_SEND] = {
		"INSERT INTO mq.q_%1$d"
		" (enqueued_at, vt, priority, group_key, dedup_key, headers, body)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING msg_id",
		7, {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, TEXTOID, TEXTOID,
		JSONBOID, JSONBOID}
	},
	[MQ_PLAN_SEND_BATCH] = {
		"INSERT INTO mq.q_%1$d"
		" (enqueued_at, vt, priority, group_key, dedup_key, headers, body)"
		" SELECT $1, $2, $3, u.g, u.d, u.h, u.b"
		" FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5),"
		" pg_catalog.unnest($6), pg_catalog.unnest($7)) AS u(g, d, h, b)"
		" RETURNING msg_id",
		7, {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, TEXTARRAYOID,
		TEXTARRAYOID, JSONBARRAYOID, JSONBARRAYOID}
	},
	[MQ_PLAN_LEASE] = {
		NEXT_VISIBLE
		"UPDATE mq.q_%1$d q SET vt = $2,"
		" read_ct = q.read_ct OPERATOR(pg_catalog.+) 1"
		" FROM c WHERE q.msg_id OPERATOR(pg_catalog.=) c.msg_id"
		" RETURNING " MESSAGE_COLUMNS,
		3, {TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID}
	},
	[MQ_PLAN_POP] = {
		NEXT_VISIBLE
		"DELETE FROM mq.q_%1$d q"
		" USING c WHERE q.msg_id OPERATOR(pg_catalog.=) c.msg_id"
		" RETURNING q.msg_id, q.read_ct OPERATOR(pg_catalog.+) 1,"
		" q.enqueued_at, q.vt, q.priority, q.group_key, q.dedup_key,"
		" q.headers, q.body",
		2, {TIMESTAMPTZOID, INT8OID}
	},
	[MQ_PLAN_DELETE] = {
		"DELETE FROM mq.q_%1$d WHERE msg_id OPERATOR(pg_catalog.=) $1",
		1, {INT8OID}
	},
	[MQ_PLAN_DELETE_MANY] = {
		"DELETE FROM mq.q_%1$d"
		" WHERE msg_id OPERATOR(pg_catalog.=) ANY ($1) RETURNING msg_id",
		1, {INT8ARRAYOID}
	},
	[MQ_PLAN_ARCHIVE_MANY] = {
		"WITH d AS (DELETE FROM mq.q_%1$d"
		" WHERE msg_id OPERATOR(pg_catalog.=) ANY ($1) RETURNING *)"
		" INSERT INTO mq.a_%1$d (msg_id, read_ct, enqueued_at, vt,"
		" priority, group_key, dedup_key, headers, body, archived_at)"
		" SELECT d.msg_id, d.read_ct, d.enqueued_at, d.vt, d.priority,"
		" d.group_key, d.dedup_key, d.headers, d.body, $2 FROM d"
		" RETURNING msg_id",
		2, {INT8ARRAYOID, TIMESTAMPTZOID}
	},
	[MQ_PLAN_SET_VT] = {
		"UPDATE mq.q_%1$d SET vt = $2"
		" WHERE msg_id OPERATOR(pg_catalog.=) $1",
		2, {INT8OID, TIMESTAMPTZOID}
	},
};

static void
storage_connect(void)
{
	int			ret;

	if ((ret = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
}

/*
 * Run statement kind of queue q, preparing and keeping its plan on first
 * use.  The caller is connected to SPI.  Checks the SPI result code.
 */
static void
storage_execute(MqQueue *q, MqPlanKind kind, Datum *values, const char *nulls,
				int expected)
{
	int			ret;

	if (q->plans[kind] == NULL)
	{
		const MqStatement *st = &statements[kind];
		SPIPlanPtr	plan;

		plan = SPI_prepare(psprintf(st->sql, q->id, st->nargs), st->nargs,
						   (Oid *) st->argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		q->plans[kind] = plan;
	}

	ret = SPI_execute_plan(q->plans[kind], values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/* Copy the single bigint column of every result row to out. */
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
	int32		priority;
	int64		msg_id;
	uint64		row;
} MessageOrder;

static int
message_order_cmp(const void *a, const void *b)
{
	const MessageOrder *x = a;
	const MessageOrder *y = b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->msg_id != y->msg_id)
		return x->msg_id < y->msg_id ? -1 : 1;
	return 0;
}

/*
 * Copy the result messages to out in delivery order (RETURNING gives them
 * in no particular order).
 */
static void
storage_put_messages(Tuplestorestate *out, TupleDesc outdesc)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	uint64		n = SPI_processed;
	MessageOrder *order = palloc(sizeof(MessageOrder) * n);
	Datum		values[9];
	bool		nulls[9];
	uint64		i;

	Assert(desc->natts == 9 && outdesc->natts == 9);
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		order[i].msg_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													  desc, 1, &isnull));
		order[i].priority = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														desc, 5, &isnull));
		order[i].row = i;
	}
	qsort(order, n, sizeof(MessageOrder), message_order_cmp);
	for (i = 0; i < n; i++)
	{
		heap_deform_tuple(SPI_tuptable->vals[order[i].row], desc, values, nulls);
		tuplestore_putvalues(out, outdesc, values, nulls);
	}
	pfree(order);
}

int64
mq_storage_send(MqQueue *q, TimestampTz now, TimestampTz vt, int32 priority,
				text *group_key, text *dedup_key, Jsonb *headers, Jsonb *body)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		msg_id;

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

	storage_connect();
	storage_execute(q, MQ_PLAN_SEND, values, nulls, SPI_OK_INSERT_RETURNING);
	msg_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return msg_id;
}

void
mq_storage_send_batch(MqQueue *q, TimestampTz now, TimestampTz vt,
					  int32 priority, MqBatch *batch,
					  Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	values[2] = Int32GetDatum(priority);
	values[3] = PointerGetDatum(batch->group_keys);
	values[4] = PointerGetDatum(batch->dedup_keys);
	values[5] = PointerGetDatum(batch->headers);
	values[6] = PointerGetDatum(batch->bodies);
	if (batch->group_keys == NULL)
		nulls[3] = 'n';
	if (batch->dedup_keys == NULL)
		nulls[4] = 'n';
	if (batch->headers == NULL)
		nulls[5] = 'n';

	storage_connect();
	storage_execute(q, MQ_PLAN_SEND_BATCH, values, nulls,
					SPI_OK_INSERT_RETURNING);
	storage_put_ids(out, outdesc);
	SPI_finish();
}

uint64
mq_storage_lease(MqQueue *q, TimestampTz now, TimestampTz vt, int64 qty,
				 Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[3];
	uint64		n;

	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	values[2] = Int64GetDatum(qty);

	storage_connect();
	storage_execute(q, MQ_PLAN_LEASE, values, NULL, SPI_OK_UPDATE_RETURNING);
	n = SPI_processed;
	storage_put_messages(out, outdesc);
	SPI_finish();
	return n;
}

uint64
mq_storage_pop(MqQueue *q, TimestampTz now, int64 qty,
			   Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[2];
	uint64		n;

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int64GetDatum(qty);

	storage_connect();
	storage_execute(q, MQ_PLAN_POP, values, NULL, SPI_OK_DELETE_RETURNING);
	n = SPI_processed;
	storage_put_messages(out, outdesc);
	SPI_finish();
	return n;
}

bool
mq_storage_ack(MqQueue *q, TimestampTz now, int64 msg_id)
{
	Datum		values[2];
	uint64		n;

	storage_connect();
	if (q->archive)
	{
		Datum		id = Int64GetDatum(msg_id);

		values[0] = PointerGetDatum(construct_array(&id, 1, INT8OID, 8,
													FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		values[1] = TimestampTzGetDatum(now);
		storage_execute(q, MQ_PLAN_ARCHIVE_MANY, values, NULL,
						SPI_OK_INSERT_RETURNING);
	}
	else
	{
		values[0] = Int64GetDatum(msg_id);
		storage_execute(q, MQ_PLAN_DELETE, values, NULL, SPI_OK_DELETE);
	}
	n = SPI_processed;
	SPI_finish();
	return n > 0;
}

void
mq_storage_ack_many(MqQueue *q, TimestampTz now, ArrayType *ids, bool archive,
					Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[2];

	values[0] = PointerGetDatum(ids);
	values[1] = TimestampTzGetDatum(now);

	storage_connect();
	if (archive)
		storage_execute(q, MQ_PLAN_ARCHIVE_MANY, values, NULL,
						SPI_OK_INSERT_RETURNING);
	else
		storage_execute(q, MQ_PLAN_DELETE_MANY, values, NULL,
						SPI_OK_DELETE_RETURNING);
	storage_put_ids(out, outdesc);
	SPI_finish();
}

bool
mq_storage_set_vt(MqQueue *q, int64 msg_id, TimestampTz vt)
{
	Datum		values[2];
	uint64		n;

	values[0] = Int64GetDatum(msg_id);
	values[1] = TimestampTzGetDatum(vt);

	storage_connect();
	storage_execute(q, MQ_PLAN_SET_VT, values, NULL, SPI_OK_UPDATE);
	n = SPI_processed;
	SPI_finish();
	return n > 0;
}
