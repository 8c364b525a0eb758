/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  Trigger functions that turn row changes into messages (the
 *	  transactional outbox): mq.send_trigger, mq.publish_trigger and
 *	  mq.append_trigger (change data capture into a stream).
 *
 *	CREATE TRIGGER orders_outbox AFTER INSERT OR UPDATE OR DELETE ON orders
 *		FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('orders_events');
 *	CREATE TRIGGER orders_events AFTER INSERT OR UPDATE OR DELETE ON orders
 *		FOR EACH ROW EXECUTE FUNCTION mq.publish_trigger('events', 'shop.orders');
 *	CREATE TRIGGER orders_log AFTER INSERT OR UPDATE OR DELETE ON orders
 *		FOR EACH ROW EXECUTE FUNCTION mq.append_trigger('orders_log', 'customer_id');
 *
 * Each changed row becomes one message with body
 *	{"op": "insert"|"update"|"delete"|"truncate", "schema": ..., "table": ...,
 *	 "new": {row} or null, "old": {row} or null}
 * and headers {"txid": ..., "trigger_time": ...}.  publish_trigger routes
 * with key "<prefix>.<op>", the prefix defaulting to "<schema>.<table>".
 * TRUNCATE works as a statement-level trigger (op "truncate").
 *
 * Further trigger arguments are options, name=value:
 *	columns=a,b		only these columns in "new" and "old"
 *	key=col			the column's value becomes the message's group_key (a
 *					stream record's key; append_trigger also takes the
 *					column's bare name as its second argument)
 *	dedup_key=col	the column's value becomes the message's dedup_key
 *					(not for streams)
 * A wrong or missing argument is an error at the first row, naming it.
 *
 * The message is sent in the transaction that changed the row, so it
 * commits or rolls back with it.  Sends go through the same kept plans as
 * mq.send, so a bulk change of many rows costs one insert per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "args.h"
#include "compat.h"
#include "privilege.h"
#include "queue.h"
#include "exchange.h"
#include "queue.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(mq_send_trigger);
PG_FUNCTION_INFO_V1(mq_publish_trigger);
PG_FUNCTION_INFO_V1(mq_append_trigger);

/* what a trigger makes of a row change */
typedef enum TriggerKind
{
	TRIGGER_SEND,
	TRIGGER_PUBLISH,
	TRIGGER_APPEND
} TriggerKind;

static const char *const trigger_fn[] = {
	"mq.send_trigger()", "mq.publish_trigger()", "mq.append_trigger()"
};
static const char *const trigger_target[] = {"queue", "exchange", "stream"};

typedef struct TriggerOptions
{
	const char *target;			/* queue or exchange */
	const char *prefix;			/* publish: routing key prefix */
	List	   *columns;		/* column names to keep, or NIL for all */
	int			key_attnum;		/* group_key column, or 0 */
	int			dedup_attnum;	/* dedup_key column, or 0 */
} TriggerOptions;

static int
column_attnum(Relation rel, const char *name, const char *fn)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i + 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" named in the arguments of %s does not exist in table \"%s\"",
					name, fn, RelationGetRelationName(rel))));
	return 0;
}

/*
 * Read the trigger's arguments: a publish trigger may have a prefix second,
 * an append trigger the key column.
 */
static void
parse_arguments(TriggerData *td, TriggerKind kind, TriggerOptions *opts)
{
	Trigger    *tg = td->tg_trigger;
	const char *fn = trigger_fn[kind];
	int			i;

	memset(opts, 0, sizeof(*opts));
	if (tg->tgnargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs the %s name as its first argument", fn,
						trigger_target[kind]),
				 errhint("Create the trigger with EXECUTE FUNCTION %.*s('name').",
						 (int) strlen(fn) - 2, fn)));
	opts->target = tg->tgargs[0];

	for (i = 1; i < tg->tgnargs; i++)
	{
		char	   *arg = pstrdup(tg->tgargs[i]);	/* never the relcache's copy */
		char	   *eq = strchr(arg, '=');

		if (eq == NULL)
		{
			if (kind == TRIGGER_PUBLISH && i == 1)
			{
				opts->prefix = arg;
				continue;
			}
			if (kind == TRIGGER_APPEND && i == 1)
			{
				opts->key_attnum = column_attnum(td->tg_relation, arg, fn);
				continue;
			}
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid argument \"%s\" of %s", arg, fn),
					 kind == TRIGGER_APPEND ?
					 errhint("Options are name=value: columns=a,b, key=column.") :
					 errhint("Options are name=value: columns=a,b, key=column, dedup_key=column.")));
		}
		*eq = '\0';
		if (strcmp(arg, "columns") == 0)
		{
			char	   *list = pstrdup(eq + 1);
			char	   *tok;
			char	   *save;

			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			{
				(void) column_attnum(td->tg_relation, tok, fn);
				opts->columns = lappend(opts->columns, tok);
			}
			if (opts->columns == NIL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option columns of %s lists no column", fn)));
		}
		else if (strcmp(arg, "key") == 0)
			opts->key_attnum = column_attnum(td->tg_relation, eq + 1, fn);
		else if (strcmp(arg, "dedup_key") == 0 && kind != TRIGGER_APPEND)
			opts->dedup_attnum = column_attnum(td->tg_relation, eq + 1, fn);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\" of %s", arg, fn),
					 kind == TRIGGER_APPEND ?
					 errhint("Options are name=value: columns=a,b, key=column.") :
					 errhint("Options are name=value: columns=a,b, key=column, dedup_key=column.")));
	}
}

/* A row as jsonb, keeping only opts->columns if given. */
static Jsonb *
row_to_jsonb(Relation rel, HeapTuple tuple, TriggerOptions *opts)
{
	TupleDesc	desc = RelationGetDescr(rel);
	FmgrInfo	flinfo;
	FuncExpr   *expr;
	Datum		row;
	Datum		json;

	/* to_jsonb() learns the type of its argument from the call expression */
	fmgr_info(F_TO_JSONB, &flinfo);
	expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
						list_make1(makeNullConst(desc->tdtypeid, -1, InvalidOid)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	flinfo.fn_expr = (Node *) expr;
	row = heap_copy_tuple_as_datum(tuple, desc);
	json = FunctionCall1(&flinfo, row);

	if (opts->columns != NIL)
	{
		Datum	   *drop = palloc(sizeof(Datum) * desc->natts);
		int			ndrop = 0;
		int			i;

		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			ListCell   *lc;
			bool		keep = false;

			if (att->attisdropped)
				continue;
			foreach(lc, opts->columns)
				if (strcmp(lfirst(lc), NameStr(att->attname)) == 0)
					keep = true;
			if (!keep)
				drop[ndrop++] = CStringGetTextDatum(NameStr(att->attname));
		}
		if (ndrop > 0)
			json = DirectFunctionCall2(jsonb_delete_array, json,
									   PointerGetDatum(construct_array(drop, ndrop, TEXTOID,
																	   -1, false, TYPALIGN_INT)));
	}
	return DatumGetJsonbP(json);
}

static void
push_string(MqJsonbBuild *state, JsonbIteratorToken tok, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	mq_jsonb_push(state, tok, &v);
}

static void
push_jsonb(MqJsonbBuild *state, Jsonb *j)
{
	JsonbValue	v;

	if (j == NULL)
	{
		v.type = jbvNull;
		mq_jsonb_push(state, WJB_VALUE, &v);
		return;
	}
	v.type = jbvBinary;
	v.val.binary.data = &j->root;
	v.val.binary.len = VARSIZE(j) - VARHDRSZ;
	mq_jsonb_push(state, WJB_VALUE, &v);
}

/* The column's value as text (NULL when NULL or no column). */
static text *
column_text(Relation rel, HeapTuple tuple, int attnum)
{
	bool		isnull;
	Datum		d;
	Oid			typoutput;
	bool		varlena;
	TupleDesc	desc = RelationGetDescr(rel);

	if (attnum == 0 || tuple == NULL)
		return NULL;
	d = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return NULL;
	getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &typoutput, &varlena);
	return cstring_to_text(OidOutputFunctionCall(typoutput, d));
}

/* Build the message of one trigger event and hand it on. */
static Datum
trigger_common(FunctionCallInfo fcinfo, TriggerKind kind)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *fn = trigger_fn[kind];
	TriggerOptions opts;
	Relation	rel;
	const char *op;
	HeapTuple	newtup = NULL;
	HeapTuple	oldtup = NULL;
	HeapTuple	keytup;
	MqJsonbBuild state = {0};
	Jsonb	   *body;
	Jsonb	   *headers;
	TimestampTz now = GetCurrentTimestamp();
	char		txid[32];

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger", fn)));
	/* a temporary table can change in a read-only transaction; a queue not */
	mq_require_primary(fn);
	rel = td->tg_relation;

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		op = "truncate";
	else
	{
		if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("%s must be a FOR EACH ROW trigger for INSERT, UPDATE and DELETE", fn),
					 errhint("Use FOR EACH ROW; only TRUNCATE is FOR EACH STATEMENT.")));
		if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		{
			op = "insert";
			newtup = td->tg_trigtuple;
		}
		else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		{
			op = "update";
			oldtup = td->tg_trigtuple;
			newtup = td->tg_newtuple;
		}
		else
		{
			op = "delete";
			oldtup = td->tg_trigtuple;
		}
	}
	parse_arguments(td, kind, &opts);

	mq_jsonb_push(&state, WJB_BEGIN_OBJECT, NULL);
	push_string(&state, WJB_KEY, "op");
	push_string(&state, WJB_VALUE, op);
	push_string(&state, WJB_KEY, "schema");
	push_string(&state, WJB_VALUE, get_namespace_name(RelationGetNamespace(rel)));
	push_string(&state, WJB_KEY, "table");
	push_string(&state, WJB_VALUE, RelationGetRelationName(rel));
	push_string(&state, WJB_KEY, "new");
	push_jsonb(&state, newtup ? row_to_jsonb(rel, newtup, &opts) : NULL);
	push_string(&state, WJB_KEY, "old");
	push_jsonb(&state, oldtup ? row_to_jsonb(rel, oldtup, &opts) : NULL);
	mq_jsonb_push(&state, WJB_END_OBJECT, NULL);
	body = mq_jsonb_finish(&state);

	memset(&state, 0, sizeof(state));
	snprintf(txid, sizeof(txid), "%u", GetTopTransactionId());
	mq_jsonb_push(&state, WJB_BEGIN_OBJECT, NULL);
	push_string(&state, WJB_KEY, "txid");
	push_string(&state, WJB_VALUE, txid);
	push_string(&state, WJB_KEY, "trigger_time");
	push_string(&state, WJB_VALUE, timestamptz_to_str(now));
	mq_jsonb_push(&state, WJB_END_OBJECT, NULL);
	headers = mq_jsonb_finish(&state);

	keytup = newtup ? newtup : oldtup;
	if (kind == TRIGGER_APPEND)
	{
		int32		partition;
		int64		position;
		MqMessage	m;

		mq_message_json(body, &m);
		mq_stream_append_one(cstring_to_text(opts.target), &m,
							 column_text(rel, keytup, opts.key_attnum), headers,
							 MQ_PRIV_SEND, &partition, &position);
	}
	else if (kind == TRIGGER_PUBLISH)
	{
		const char *prefix = opts.prefix ? opts.prefix :
			psprintf("%s.%s", get_namespace_name(RelationGetNamespace(rel)),
					 RelationGetRelationName(rel));

		(void) mq_publish_message(cstring_to_text(opts.target),
								  cstring_to_text(psprintf("%s.%s", prefix, op)),
								  body, headers, false, now, now, 0,
								  column_text(rel, keytup, opts.dedup_attnum),
								  column_text(rel, keytup, opts.key_attnum));
	}
	else
	{
		MqQueue    *q = mq_queue_lookup(cstring_to_text(opts.target));

		mq_acl_check(&q->acl, "queue", q->name, GetUserId(), MQ_PRIV_SEND);
		mq_check_message(body, headers);
		(void) mq_queue_send(q, now, now, 0,
							 column_text(rel, keytup, opts.key_attnum),
							 column_text(rel, keytup, opts.dedup_attnum),
							 headers, body);
	}

	/* a BEFORE trigger must let the change through unchanged */
	if (TRIGGER_FIRED_BEFORE(td->tg_event) && TRIGGER_FIRED_FOR_ROW(td->tg_event))
		return PointerGetDatum(newtup ? newtup : oldtup);
	return PointerGetDatum(NULL);
}

/* mq.send_trigger(queue [, option=value ...]) */
Datum
mq_send_trigger(PG_FUNCTION_ARGS)
{
	return trigger_common(fcinfo, TRIGGER_SEND);
}

/* mq.publish_trigger(exchange [, routing_key_prefix] [, option=value ...]) */
Datum
mq_publish_trigger(PG_FUNCTION_ARGS)
{
	return trigger_common(fcinfo, TRIGGER_PUBLISH);
}

/* mq.append_trigger(stream [, key_column] [, option=value ...]) */
Datum
mq_append_trigger(PG_FUNCTION_ARGS)
{
	return trigger_common(fcinfo, TRIGGER_APPEND);
}
