/*-------------------------------------------------------------------------
 *
 * exchange_publish.c
 *	  mq.publish and mq.publish_batch: a message routed through an exchange
 *	  (exchange_route.c) is sent to every queue and appended to every
 *	  stream it reaches, with the headers x-exchange and x-routing-key; an
 *	  unroutable one is an error when the publisher asked for mandatory
 *	  delivery, else dropped and counted against the exchange.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "args.h"
#include "compat.h"
#include "exchange.h"
#include "privilege.h"
#include "queue.h"
#include "spi.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(mq_publish);
PG_FUNCTION_INFO_V1(mq_publish_batch);
PG_FUNCTION_INFO_V1(mq_publish_0_3);
PG_FUNCTION_INFO_V1(mq_publish_batch_0_3);

/* The headers a queue receives: the publisher's plus where it came from. */
static Jsonb *
delivered_headers(Jsonb *headers, text *exchange, text *routing_key)
{
	MqJsonbBuild b = {0};
	JsonbValue	k,
				v;
	Jsonb	   *extra;

	mq_jsonb_push(&b, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "x-exchange";
	k.val.string.len = strlen("x-exchange");
	mq_jsonb_push(&b, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = VARDATA_ANY(exchange);
	v.val.string.len = VARSIZE_ANY_EXHDR(exchange);
	mq_jsonb_push(&b, WJB_VALUE, &v);
	k.val.string.val = "x-routing-key";
	k.val.string.len = strlen("x-routing-key");
	mq_jsonb_push(&b, WJB_KEY, &k);
	v.val.string.val = VARDATA_ANY(routing_key);
	v.val.string.len = VARSIZE_ANY_EXHDR(routing_key);
	mq_jsonb_push(&b, WJB_VALUE, &v);
	mq_jsonb_push(&b, WJB_END_OBJECT, NULL);
	extra = mq_jsonb_finish(&b);
	if (headers == NULL)
		return extra;
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(headers),
											  JsonbPGetDatum(extra)));
}

/*
 * Publish one message: route it and send it to every queue it reaches.
 * Returns the number of queues.
 */
int
mq_publish_message(text *exchange, text *routing_key, Jsonb *body, Jsonb *headers,
			bool mandatory, TimestampTz now, TimestampTz vt, int32 priority,
			text *dedup_key, text *group_key)
{
	List	   *queues;
	List	   *streams;
	Jsonb	   *delivered;
	ListCell   *lc;

	mq_check_message(body, headers);
	queues = mq_route(exchange, routing_key, headers, &streams);

	if (queues == NIL && streams == NIL)
	{
		if (mandatory)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("message to exchange \"%s\" with routing key \"%s\" is unroutable",
							text_to_cstring(exchange), text_to_cstring(routing_key)),
					 errdetail("No binding matches it, nor any of the alternate exchanges."),
					 errhint("Bind a queue that matches the routing key, or publish with mandatory => false to drop unroutable messages.")));
		mq_exchange_count_unroutable(exchange);
		return 0;
	}
	delivered = delivered_headers(headers, exchange, routing_key);
	foreach(lc, queues)
	{
		MqQueue    *q = mq_queue_lookup(cstring_to_text(lfirst(lc)));

		(void) mq_queue_send(q, now, vt, priority, group_key, dedup_key,
							 delivered, body);
	}

	/*
	 * A stream bound to the exchange gets a record, keyed by the group key.
	 * Publishing needs no privilege on it: whoever bound it decided, and
	 * routing followed the binding only while they may still send there.
	 */
	foreach(lc, streams)
	{
		int32		partition;
		int64		position;
		MqMessage	m;

		mq_message_json(body, &m);
		mq_stream_append_one(cstring_to_text(lfirst(lc)), &m, group_key, delivered,
							 0, &partition, &position);
	}
	return list_length(queues) + list_length(streams);
}

/*
 * Shared argument checks of publish and publish_batch.  The privilege comes
 * first, as mq.send's does (mq_route() checks it again, for the alternate
 * exchanges too): a role that may not publish learns nothing from errors
 * about the other arguments.
 */
static text *
exchange_argument(FunctionCallInfo fcinfo)
{
	const MqAcl *acl;
	const char *name;

	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("exchange name must not be null")));
	acl = mq_exchange_acl(PG_GETARG_TEXT_PP(0), &name);
	mq_acl_check(acl, "exchange", name, GetUserId(), MQ_PRIV_PUBLISH);
	return PG_GETARG_TEXT_PP(0);
}

/*
 * Where the options of mq.publish and mq.publish_batch are: 0.3.0 has
 * send's options in send's order, then mandatory; 0.2.0 had them in
 * another order and no key arrays in the batch form.  Each layout has its
 * own C function, so an extension not yet updated keeps calling the one
 * its SQL declares.  -1: not in this layout.
 */
typedef struct PublishLayout
{
	int			headers;
	int			delay;
	int			dedup_key;
	int			group_key;
	int			priority;
	int			mandatory;
} PublishLayout;

static const PublishLayout publish_0_2 = {3, 5, 7, 8, 6, 4};
static const PublishLayout publish_batch_0_2 = {3, 5, -1, -1, 6, 4};
static const PublishLayout publish_0_3 = {3, 4, 5, 6, 7, 8};

#define ARG_OR_NULL(fcinfo, n) \
	((n) < 0 || PG_ARGISNULL(n))

/* mq.publish(): the queues reached */
static int
publish(FunctionCallInfo fcinfo, const PublishLayout *a)
{
	text	   *exchange = exchange_argument(fcinfo);
	TimestampTz now = GetCurrentTimestamp();

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("routing key must not be null"),
				 errhint("Use '' for no routing key.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message body must not be null")));

	return mq_publish_message(exchange, PG_GETARG_TEXT_PP(1),
							  PG_GETARG_JSONB_P(2),
							  ARG_OR_NULL(fcinfo, a->headers) ? NULL : PG_GETARG_JSONB_P(a->headers),
							  !ARG_OR_NULL(fcinfo, a->mandatory) && PG_GETARG_BOOL(a->mandatory),
							  now, mq_time_after(fcinfo, a->delay, now, "delay", false),
							  ARG_OR_NULL(fcinfo, a->priority) ? 0 : PG_GETARG_INT32(a->priority),
							  ARG_OR_NULL(fcinfo, a->dedup_key) ? NULL : PG_GETARG_TEXT_P(a->dedup_key),
							  ARG_OR_NULL(fcinfo, a->group_key) ? NULL : PG_GETARG_TEXT_P(a->group_key));
}

/*
 * mq.publish(exchange, routing_key, body, headers, delay, dedup_key,
 * group_key, priority, mandatory) returns int: the queues reached
 */
Datum
mq_publish_0_3(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(publish(fcinfo, &publish_0_3));
}

/* 0.2.0: mq.publish(exchange, routing_key, body, headers, mandatory, delay, priority, dedup_key, group_key) */
Datum
mq_publish(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(publish(fcinfo, &publish_0_2));
}

/* Element i of a batch column, or NULL. */
static Pointer
batch_element(MqBatchColumn *col, int i)
{
	return (col->array == NULL || col->nulls[i]) ? NULL :
		DatumGetPointer(col->values[i]);
}

/* mq.publish_batch(): for each message, the queues reached */
static Datum
publish_batch(FunctionCallInfo fcinfo, const PublishLayout *a)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *exchange = exchange_argument(fcinfo);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	MqBatchColumn keys,
				bodies,
				headers,
				dedup_keys = {0},
				group_keys = {0};
	int			n,
				i;
	bool		mandatory = !ARG_OR_NULL(fcinfo, a->mandatory) && PG_GETARG_BOOL(a->mandatory);
	int32		priority = ARG_OR_NULL(fcinfo, a->priority) ? 0 : PG_GETARG_INT32(a->priority);

	/* the same checks as mq.send_batch's (queue.c) */
	if (PG_ARGISNULL(1))
		mq_null_argument("routing_keys");
	if (PG_ARGISNULL(2))
		mq_null_argument("bodies");
	n = mq_batch_column(fcinfo, 2, JSONBOID, "bodies", -1, false, &bodies);
	mq_check_count(n, "batch size");
	mq_batch_column(fcinfo, 1, TEXTOID, "routing_keys", n, false, &keys);
	mq_batch_column(fcinfo, a->headers, JSONBOID, "headers", n, true, &headers);
	if (a->dedup_key >= 0)
		mq_batch_column(fcinfo, a->dedup_key, TEXTOID, "dedup_keys", n, true, &dedup_keys);
	if (a->group_key >= 0)
		mq_batch_column(fcinfo, a->group_key, TEXTOID, "group_keys", n, true, &group_keys);
	vt = mq_time_after(fcinfo, a->delay, now, "delay", false);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; i < n; i++)
	{
		Datum		reached;
		bool		isnull = false;

		reached = Int32GetDatum(mq_publish_message(exchange,
												   DatumGetTextPP(keys.values[i]),
												   DatumGetJsonbP(bodies.values[i]),
												   (Jsonb *) batch_element(&headers, i),
												   mandatory, now, vt, priority,
												   (text *) batch_element(&dedup_keys, i),
												   (text *) batch_element(&group_keys, i)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &reached, &isnull);
	}
	return (Datum) 0;
}

/*
 * mq.publish_batch(exchange, routing_keys, bodies, headers, delay,
 * dedup_keys, group_keys, priority, mandatory) returns setof int
 */
Datum
mq_publish_batch_0_3(PG_FUNCTION_ARGS)
{
	return publish_batch(fcinfo, &publish_0_3);
}

/* 0.2.0: mq.publish_batch(exchange, routing_keys, bodies, headers, mandatory, delay, priority) */
Datum
mq_publish_batch(PG_FUNCTION_ARGS)
{
	return publish_batch(fcinfo, &publish_batch_0_2);
}
