/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The SQL-callable hot path: send, send_batch, read, pop, ack, nack,
 *	  set_vt and archive.
 *
 * Each function checks its arguments (NULLs, ranges, batch sizes) before it
 * touches anything, finds the queue through the per-backend cache
 * (queue_catalog.c), reads the clock once, and hands the work to the
 * operations of queue_insert.c, queue_lease.c, queue_ack.c and queue_sweep.c.
 *
 * Lease times use the clock at the moment of the call (clock_timestamp()
 * semantics), not the start of the transaction, so a long transaction that
 * reads late still gets a full lease.
 *
 * A read with wait > 0 sleeps on its latch until a commit that sent to the
 * queue wakes it, or a delay or lease may have run out (wait.c); cancel and
 * statement_timeout interrupt it.  Each look runs with a fresh snapshot,
 * which only READ COMMITTED gives; in REPEATABLE READ or SERIALIZABLE a wait
 * could never see a new message, so it is refused.
 *
 * Every call that makes a message visible (send, nack, set_vt) asks for the
 * queue's waiters to be woken when the transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "args.h"
#include "durability.h"
#include "guc.h"
#include "queue.h"
#include "spi.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_send);
PG_FUNCTION_INFO_V1(mq_send_batch);
PG_FUNCTION_INFO_V1(mq_read);
PG_FUNCTION_INFO_V1(mq_pop);
PG_FUNCTION_INFO_V1(mq_ack);
PG_FUNCTION_INFO_V1(mq_ack_many);
PG_FUNCTION_INFO_V1(mq_nack);
PG_FUNCTION_INFO_V1(mq_set_vt);
PG_FUNCTION_INFO_V1(mq_archive);
PG_FUNCTION_INFO_V1(mq_archive_one);
PG_FUNCTION_INFO_V1(mq_sweep);
PG_FUNCTION_INFO_V1(mq_make_room);
PG_FUNCTION_INFO_V1(mq_announce);

/* Raise the error for a NULL where a value is required. */
/*
 * The queue named by argument 0, which must not be NULL, on which the caller
 * must hold privs.  Every function here changes the queue, so it must run
 * on a primary, read-write.
 */
static MqQueue *
queue_argument(FunctionCallInfo fcinfo, int privs)
{
	MqQueue    *q;

	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		mq_null_argument("queue name");
	q = mq_queue_lookup(PG_GETARG_TEXT_PP(0));
	mq_acl_check(&q->acl, "queue", q->name, GetUserId(), privs);
	/* leases, pops, acks, nacks, set_vt, archive: replicated at commit */
	if (privs == MQ_PRIV_READ)
		mq_durability_wait(q->min_replicas);
	return q;
}

/* The message id in argument argno, which must not be NULL. */
static int64
msg_id_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		mq_null_argument("msg_id");
	return PG_GETARG_INT64(argno);
}

/*
 * mq.send(queue, body, headers, delay, dedup_key, group_key, priority,
 * payload, content_type, content_encoding, correlation_id, reply_to, ttl)
 * returns bigint
 */
Datum
mq_send(PG_FUNCTION_ARGS)
{
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_SEND);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	MqMessage	m;

	mq_message_from_args(fcinfo, 1, 7, true, now, &m);
	mq_check_message(NULL, PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
	vt = mq_time_after(fcinfo, 3, now, "delay", false);

	PG_RETURN_INT64(mq_queue_send(q, now, vt,
								  PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6),
								  PG_ARGISNULL(5) ? NULL : PG_GETARG_TEXT_P(5),
								  PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_P(4),
								  PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2),
								  &m));
}

/*
 * mq.send_batch(queue, bodies, headers, delay, dedup_keys, group_keys,
 * priority, payloads, content_types, content_encoding, correlation_ids,
 * reply_to, ttl) returns setof bigint, the new ids in the order of the
 * messages
 */
Datum
mq_send_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_SEND);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	MqBatch		batch;
	int			n;
	int			i;

	batch.n = n = mq_batch_messages_from_args(fcinfo, 1, 7, true, now,
											  &batch.msgs);
	mq_batch_column(fcinfo, 2, JSONBOID, "headers", n, true, &batch.headers);
	for (i = 0; batch.headers.array && i < n; i++)
		if (!batch.headers.nulls[i])
			mq_check_message(NULL, DatumGetJsonbP(batch.headers.values[i]));
	mq_batch_column(fcinfo, 4, TEXTOID, "dedup_keys", n, true, &batch.dedup_keys);
	mq_batch_column(fcinfo, 5, TEXTOID, "group_keys", n, true, &batch.group_keys);
	vt = mq_time_after(fcinfo, 3, now, "delay", false);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	mq_queue_send_batch(q, now, vt, PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6),
						&batch, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

typedef struct LeaseArg
{
	Interval   *lease;
	int64		qty;
	ReturnSetInfo *rsinfo;
} LeaseArg;

/*
 * One look for messages: lease what is visible now.  True if any; when the
 * queue's rate limit held the read back, *not_before says until when.
 */
static bool
try_lease(MqQueue *q, void *arg, TimestampTz *not_before)
{
	LeaseArg   *la = arg;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;

	vt = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												 TimestampTzGetDatum(now),
												 IntervalPGetDatum(la->lease)));
	return mq_queue_lease(q, now, vt, la->qty, la->rsinfo->setResult,
						  la->rsinfo->setDesc, not_before) > 0;
}

/*
 * mq.read(queue, qty, visibility_timeout, wait) returns setof mq.message
 */
Datum
mq_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_READ);
	int64		qty = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);
	Interval   *lease;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz deadline;
	LeaseArg	lease_arg;

	mq_check_count(qty, "qty");
	lease = PG_ARGISNULL(2) ? &q->visibility_timeout : PG_GETARG_INTERVAL_P(2);
	/* the sign first: now plus a long negative lease is out of range */
	if (mq_interval_sign(lease) > 0)
		mq_check_interval(lease, "visibility_timeout");
	if (mq_interval_sign(lease) <= 0 ||
		DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												TimestampTzGetDatum(now),
												IntervalPGetDatum(lease))) <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("visibility_timeout must be positive"),
				 errhint("Give a lease length such as '30 seconds', or NULL for the queue's default.")));
	deadline = mq_time_after(fcinfo, 3, now, "wait", false);
	if (deadline > now)
	{
		if (deadline - now > (int64) mq_max_wait * 1000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wait exceeds mq.max_wait (%d ms)", mq_max_wait),
					 errhint("Wait at most mq.max_wait, and call mq.read() again in a loop.")));
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("mq.read() cannot wait inside a REPEATABLE READ or SERIALIZABLE transaction"),
					 errdetail("Such a transaction never sees messages committed after it started."),
					 errhint("Read with wait => '0', or wait in a READ COMMITTED transaction.")));
	}

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	lease_arg.lease = lease;
	lease_arg.qty = qty;
	lease_arg.rsinfo = rsinfo;
	if (deadline > now)
		mq_wait_for_messages(q, deadline, try_lease, &lease_arg);
	else
		(void) try_lease(q, &lease_arg, NULL);
	return (Datum) 0;
}

/* mq.pop(queue, qty) returns setof mq.message: read and delete at once */
Datum
mq_pop(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_READ);
	int64		qty = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);

	mq_check_count(qty, "qty");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	mq_queue_pop(q, GetCurrentTimestamp(), qty,
				 rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/* mq.ack(queue, msg_id) returns bool: false when there is no such message */
Datum
mq_ack(PG_FUNCTION_ARGS)
{
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_READ);
	int64		msg_id = msg_id_argument(fcinfo, 1);

	PG_RETURN_BOOL(mq_queue_ack(q, GetCurrentTimestamp(), msg_id, q->archive));
}

/* mq.archive(queue, msg_id) returns bool: archived (false: no such message) */
Datum
mq_archive_one(PG_FUNCTION_ARGS)
{
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_READ);
	int64		msg_id = msg_id_argument(fcinfo, 1);

	PG_RETURN_BOOL(mq_queue_ack(q, GetCurrentTimestamp(), msg_id, true));
}

/* The msg_ids array in argument 1, checked. */
static ArrayType *
msg_ids_argument(FunctionCallInfo fcinfo)
{
	ArrayType  *ids;
	int			n;

	if (PG_ARGISNULL(1))
		mq_null_argument("msg_ids");
	ids = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("msg_ids must be a one-dimensional array")));
	n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	if (n > 0)					/* an empty array acks nothing */
		mq_check_count(n, "number of msg_ids");
	return ids;
}

/* mq.ack(queue, msg_ids) returns setof bigint: the ids that were acked */
Datum
mq_ack_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_READ);
	ArrayType  *ids = msg_ids_argument(fcinfo);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	mq_queue_ack_many(q, GetCurrentTimestamp(), ids, q->archive,
					  rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/* mq.archive_batch(queue, msg_ids) returns setof bigint: the ids archived */
Datum
mq_archive(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_READ);
	ArrayType  *ids = msg_ids_argument(fcinfo);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	mq_queue_ack_many(q, GetCurrentTimestamp(), ids, true,
					  rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/*
 * Move the lease end of message argument 1 to now + argument 2 (named what);
 * *vt gets it.  False when there is no such message.  Waiters are woken only
 * when the message becomes visible at once; a later vt is found by polling.
 */
static bool
move_lease(FunctionCallInfo fcinfo, const char *what, TimestampTz *vt)
{
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_READ);
	int64		msg_id = msg_id_argument(fcinfo, 1);
	TimestampTz now = GetCurrentTimestamp();

	*vt = mq_time_after(fcinfo, 2, now, what, false);
	if (*vt == now)
		mq_wake_at_commit(q);
	return mq_queue_set_vt(q, msg_id, *vt);
}

/*
 * mq.nack(queue, msg_id, delay) returns bool: give the message back, visible
 * again after delay
 */
Datum
mq_nack(PG_FUNCTION_ARGS)
{
	TimestampTz vt;

	PG_RETURN_BOOL(move_lease(fcinfo, "delay", &vt));
}

/*
 * mq.set_vt(queue, msg_id, visibility_timeout) returns timestamptz: the new
 * lease end, or NULL when there is no such message
 */
Datum
mq_set_vt(PG_FUNCTION_ARGS)
{
	TimestampTz vt;

	if (PG_ARGISNULL(2))
		mq_null_argument("visibility_timeout");
	if (!move_lease(fcinfo, "visibility_timeout", &vt))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(vt);
}

/*
 * mq._sweep(queue, OUT dead_lettered bigint, OUT expired bigint): move the
 * messages of a queue that are past max_receives or message_ttl to where its
 * dead letters go, whether or not anybody reads the queue.  Called by
 * mq.maintain().
 */
Datum
mq_sweep(PG_FUNCTION_ARGS)
{
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_MANAGE);
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int64		dead_lettered;
	int64		expired;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	mq_queue_sweep(q, GetCurrentTimestamp(), &dead_lettered, &expired);
	values[0] = Int64GetDatum(dead_lettered);
	values[1] = Int64GetDatum(expired);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc),
													  values, nulls)));
}

/*
 * mq._announce(queue text): messages were just put into the queue by SQL
 * (mq.redrive()), after their rows and index entries exist.  Readers stop
 * trusting the queue's scan hint, and waiting ones are woken at commit.
 */
Datum
mq_announce(PG_FUNCTION_ARGS)
{
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_SEND);

	mq_queue_announce(q);
	PG_RETURN_VOID();
}

/*
 * mq._make_room(queue text, n bigint) returns bigint: how many of n messages
 * that SQL is about to put into the queue (mq.redrive()) fit, as for a send:
 * the queue's senders wait for the caller's commit, and with overflow
 * 'drop_head' its oldest messages make room.
 */
Datum
mq_make_room(PG_FUNCTION_ARGS)
{
	MqQueue    *q = queue_argument(fcinfo, MQ_PRIV_SEND);
	int64		length;
	int64		room;

	mq_spi_connect();
	room = mq_queue_make_room(q, GetCurrentTimestamp(),
							  Max(0, PG_GETARG_INT64(1)), &length);
	SPI_finish();
	PG_RETURN_INT64(room);
}
