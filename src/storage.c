/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The per-queue message tables and the statements run against them.
 *
 * Each queue has three tables, named from its id:
 *
 *	mq.q_<id>	the messages: msg_id (identity, primary key), read_ct,
 *				enqueued_at, vt (when it is, or becomes again, visible: the
 *				lease end), priority, group_key, dedup_key, headers, body
 *	mq.a_<id>	the archive: the same columns plus archived_at
 *	mq.d_<id>	dedup keys of messages acked within the dedup window
 *
 * Indexes on mq.q_<id>: (priority DESC, msg_id), the delivery order; a
 * unique index on dedup_key and an index on (group_key, msg_id), both
 * partial (only rows that have a key).  vt and read_ct are not indexed, so
 * taking a lease is a HOT update.
 *
 * Every statement is built for one queue (its table names and options are
 * fixed in the text), prepared once per backend with a generic plan, kept
 * with SPI_keepplan in the queue's cache entry (queue.c frees it when the
 * catalog changes, so an alter_queue re-plans) and run with typed
 * parameters as the extension owner: user data is never SQL text, and every
 * operator and function is schema qualified so that the caller's
 * search_path cannot redirect it.  Sends without a dedup key skip SQL
 * altogether: storage_insert_rows() puts them into the table with
 * table_multi_insert() and the executor's index insertion.
 *
 * A lease is one statement: select the first visible rows in delivery order
 * with FOR UPDATE SKIP LOCKED and update their vt and read_ct.  Two readers
 * never get the same row: the second either skips the locked row or, once
 * the first has committed, rechecks vt against the new row version and finds
 * it leased.  On a queue with max_receives or message_ttl the same statement
 * also moves the candidates that are past their limit to the dead-letter
 * queue (or the archive) instead of delivering them, so a poison message is
 * never handed out again.  mq_storage_sweep() does the same for messages
 * nobody reads (mq.maintain()).
 *
 * In READ COMMITTED, leases, pops and acks skip SQL:
 * they walk the delivery-order index and update or delete through the
 * table access method (see "Leases, pops and acks without SQL" below), and
 * a lease starts its walk at the queue's shared scan hint (hint.c) instead
 * of at the dead head of the table.  Every insert here tells hint.c.
 *
 * FIFO queues only offer the head of each message group: a message whose
 * group has an earlier message (in flight, delayed, visible, or sent by a
 * transaction still in progress) is not a candidate.  So a group has at
 * most one message in flight, in send order.
 *
 * Idempotent send: a unique index makes a second send of a key that is in
 * the queue a no-op (INSERT ... ON CONFLICT DO NOTHING: concurrent senders
 * wait for each other and never fail), and acked keys are remembered in
 * mq.d_<id> for dedup_window.
 *
 * Times come from the caller, who reads the clock (GetCurrentTimestamp),
 * not the transaction start.  This file is the only one that knows the
 * table layout, so the storage can be redesigned without touching the API.
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
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "miscadmin.h"
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
#include "storage.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_group_has_older);

/* the columns of mq.message, in order, from a message table aliased q */
#define MESSAGE_COLUMNS \
	"q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.priority, q.group_key," \
	" q.dedup_key, q.headers, q.body"

/* the same, from a CTE named d */
#define DEAD_COLUMNS \
	"d.msg_id, d.read_ct, d.enqueued_at, d.vt, d.priority, d.group_key," \
	" d.dedup_key, d.headers, d.body"

/* advisory lock key (field4) that serialises sends to a bounded queue */
#define MQ_LOCKTAG_MAX_LENGTH 0x6d71

static Relation storage_open_table(MqQueue *q);
static void storage_insert_rows(MqQueue *q, Relation rel, int n, TimestampTz now,
								TimestampTz vt, int32 priority, Datum *bodies,
								Datum *headers, bool *hnulls, Datum *groups,
								bool *gnulls, int64 *ids);

/* how many messages one sweep statement moves */
#define MQ_SWEEP_BATCH 1000

/* where the plan of a statement kind has the limits of a dead-letter check */
typedef struct DeadParams
{
	int			now;			/* $n: the time of the move */
	int			max_receives;	/* $n: int4, or 0 when not used */
	int			cutoff;			/* $n: enqueued_at at or before it expired */
} DeadParams;

/*
 * Append an INSERT that moves the rows of CTE d to where dead letters of q
 * go: its dead-letter queue as new messages, or its archive.  Headers get an
 * "x-death" entry (as RabbitMQ's) saying why, from where and when.
 * reason is an SQL expression over d.
 */
static void
append_dead_letter_insert(StringInfo sql, MqQueue *q, const char *reason,
						  int now_param)
{
	char		death[1024];

	snprintf(death, sizeof(death),
			 "COALESCE(d.headers, '{}'::pg_catalog.jsonb) OPERATOR(pg_catalog.||)"
			 " pg_catalog.jsonb_build_object('x-death',"
			 " pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object("
			 "'reason', %s, 'queue', %s, 'count', d.read_ct, 'time', $%d,"
			 " 'first_enqueued_at', d.enqueued_at, 'msg_id', d.msg_id))"
			 " OPERATOR(pg_catalog.||) COALESCE(d.headers"
			 " OPERATOR(pg_catalog.->) 'x-death', '[]'::pg_catalog.jsonb))",
			 reason, quote_literal_cstr(q->name), now_param);

	if (q->dead_letter_queue_id != 0)
		appendStringInfo(sql,
						 "INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
						 " group_key, headers, body)"
						 " SELECT $%d, $%d, d.priority, d.group_key, %s, d.body"
						 " FROM d",
						 q->dead_letter_queue_id, now_param, now_param, death);
	else
		appendStringInfo(sql,
						 "INSERT INTO mq.a_%d (msg_id, read_ct, enqueued_at,"
						 " vt, priority, group_key, dedup_key, headers, body,"
						 " archived_at)"
						 " SELECT d.msg_id, d.read_ct, d.enqueued_at, d.vt,"
						 " d.priority, d.group_key, d.dedup_key, %s, d.body, $%d"
						 " FROM d",
						 q->id, death, now_param);
}

/* The SQL expression saying why a row of d is dead. */
static char *
dead_reason(const DeadParams *dp)
{
	return psprintf("CASE WHEN d.enqueued_at OPERATOR(pg_catalog.<=) $%d"
					" THEN 'expired' ELSE 'max_receives' END", dp->cutoff);
}

/* Does q move messages past max_receives or message_ttl? */
static bool
has_dead_letters(MqQueue *q)
{
	return q->max_receives > 0 || q->has_ttl;
}

/*
 * The candidates for a lease or pop: visible messages in delivery order
 * (on a FIFO queue, only group heads), locked, at most $qty_param.  A
 * SELECT to use as ARRAY(...) or a CTE.
 */
static void
append_candidates(StringInfo sql, MqQueue *q, int qty_param, bool dead)
{
	appendStringInfo(sql, "SELECT m.msg_id");
	if (dead)
		appendStringInfoString(sql,
							   ", (m.read_ct OPERATOR(pg_catalog.>=) $4"
							   " OR m.enqueued_at OPERATOR(pg_catalog.<=) $5)"
							   " AS dead");
	appendStringInfo(sql, " FROM mq.q_%d m WHERE m.vt OPERATOR(pg_catalog.<=) $1",
					 q->id);
	if (q->fifo)
		appendStringInfoString(sql,
							   " AND (m.group_key IS NULL OR NOT"
							   " mq._group_has_older(m.tableoid, m.group_key, m.msg_id))");
	appendStringInfo(sql,
					 " ORDER BY m.priority DESC, m.msg_id LIMIT $%d"
					 " FOR UPDATE SKIP LOCKED", qty_param);
}

/*
 * The rows of table alias q whose ids the subquery gives.  Statements take
 * their rows with "msg_id = ANY (ARRAY(subquery))" rather than a join, so
 * that one generic plan serves every call: an index scan on the primary key
 * however many rows the LIMIT asks for (a join's generic plan would hash
 * the whole table).
 */
#define IDS_FROM(subquery) \
	"q.msg_id OPERATOR(pg_catalog.=) ANY (ARRAY(" subquery "))"

/*
 * Build the statement of the given kind for queue q, and its parameter
 * types.
 */
static char *
statement_sql(MqQueue *q, MqPlanKind kind, int *nargs, Oid *argtypes)
{
	StringInfoData sql;
	int			id = q->id;

	initStringInfo(&sql);
	switch (kind)
	{
		case MQ_PLAN_SEND:
		case MQ_PLAN_SEND_DEDUP:
			appendStringInfo(&sql,
							 "INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
							 " group_key, dedup_key, headers, body)"
							 " VALUES ($1, $2, $3, $4, $5, $6, $7)", id);
			if (kind == MQ_PLAN_SEND_DEDUP)
				appendStringInfoString(&sql,
									   " ON CONFLICT (dedup_key)"
									   " WHERE dedup_key IS NOT NULL DO NOTHING");
			appendStringInfoString(&sql, " RETURNING msg_id");
			*nargs = 7;
			argtypes[0] = argtypes[1] = TIMESTAMPTZOID;
			argtypes[2] = INT4OID;
			argtypes[3] = argtypes[4] = TEXTOID;
			argtypes[5] = argtypes[6] = JSONBOID;
			break;

		case MQ_PLAN_SEND_BATCH:
			appendStringInfo(&sql,
							 "INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
							 " group_key, headers, body)"
							 " SELECT $1, $2, $3, u.g, u.h, u.b"
							 " FROM ROWS FROM (pg_catalog.unnest($4),"
							 " pg_catalog.unnest($5), pg_catalog.unnest($6))"
							 " AS u(g, h, b) RETURNING msg_id", id);
			*nargs = 6;
			argtypes[0] = argtypes[1] = TIMESTAMPTZOID;
			argtypes[2] = INT4OID;
			argtypes[3] = TEXTARRAYOID;
			argtypes[4] = argtypes[5] = JSONBARRAYOID;
			break;

		case MQ_PLAN_FIND_KEY:
			/* the message with this key in the queue, or acked recently */
			appendStringInfo(&sql,
							 "SELECT msg_id FROM mq.q_%d"
							 " WHERE dedup_key OPERATOR(pg_catalog.=) $1"
							 " UNION ALL SELECT msg_id FROM mq.d_%d"
							 " WHERE dedup_key OPERATOR(pg_catalog.=) $1"
							 " AND removed_at OPERATOR(pg_catalog.>) $2 LIMIT 1",
							 id, id);
			*nargs = 2;
			argtypes[0] = TEXTOID;
			argtypes[1] = TIMESTAMPTZOID;
			break;

		case MQ_PLAN_RECENT_KEY:
			appendStringInfo(&sql,
							 "SELECT msg_id FROM mq.d_%d"
							 " WHERE dedup_key OPERATOR(pg_catalog.=) $1"
							 " AND removed_at OPERATOR(pg_catalog.>) $2", id);
			*nargs = 2;
			argtypes[0] = TEXTOID;
			argtypes[1] = TIMESTAMPTZOID;
			break;

		case MQ_PLAN_REMEMBER_KEYS:
			appendStringInfo(&sql,
							 "INSERT INTO mq.d_%d AS k (dedup_key, msg_id, removed_at)"
							 " SELECT u.k, u.i, $3 FROM ROWS FROM"
							 " (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(k, i)"
							 " ON CONFLICT (dedup_key) DO UPDATE"
							 " SET msg_id = EXCLUDED.msg_id,"
							 " removed_at = EXCLUDED.removed_at", id);
			*nargs = 3;
			argtypes[0] = TEXTARRAYOID;
			argtypes[1] = INT8ARRAYOID;
			argtypes[2] = TIMESTAMPTZOID;
			break;

		case MQ_PLAN_LEASE:
		case MQ_PLAN_POP:
			{
				bool		pop = (kind == MQ_PLAN_POP);
				bool		dead = has_dead_letters(q);
				DeadParams	dp = {1, 4, 5};

				/* $1 now, $2 new vt (unused by pop), $3 qty, $4 max, $5 cutoff */
				if (!dead)
				{
					StringInfoData cand;

					initStringInfo(&cand);
					append_candidates(&cand, q, 3, false);
					if (pop)
						appendStringInfo(&sql,
										 "DELETE FROM mq.q_%d q"
										 " WHERE q.msg_id OPERATOR(pg_catalog.=) ANY (ARRAY(%s))"
										 " RETURNING q.msg_id,"
										 " q.read_ct OPERATOR(pg_catalog.+) 1,"
										 " q.enqueued_at, q.vt, q.priority,"
										 " q.group_key, q.dedup_key, q.headers,"
										 " q.body", id, cand.data);
					else
						appendStringInfo(&sql,
										 "UPDATE mq.q_%d q SET vt = $2,"
										 " read_ct = q.read_ct OPERATOR(pg_catalog.+) 1"
										 " WHERE q.msg_id OPERATOR(pg_catalog.=) ANY (ARRAY(%s))"
										 " RETURNING " MESSAGE_COLUMNS, id, cand.data);
					*nargs = 3;
				}
				else
				{
					appendStringInfoString(&sql, "WITH c AS (");
					append_candidates(&sql, q, 3, true);
					appendStringInfoString(&sql, ")");
					if (pop)
						appendStringInfo(&sql,
										 ", l AS (DELETE FROM mq.q_%d q WHERE "
										 IDS_FROM("SELECT c.msg_id FROM c WHERE NOT c.dead")
										 " RETURNING q.*)", id);
					else
						appendStringInfo(&sql,
										 ", l AS (UPDATE mq.q_%d q SET vt = $2,"
										 " read_ct = q.read_ct OPERATOR(pg_catalog.+) 1"
										 " WHERE "
										 IDS_FROM("SELECT c.msg_id FROM c WHERE NOT c.dead")
										 " RETURNING q.*)", id);
					appendStringInfo(&sql,
									 ", d AS (DELETE FROM mq.q_%d q WHERE "
									 IDS_FROM("SELECT c.msg_id FROM c WHERE c.dead")
									 " RETURNING q.*), x AS (", id);
					append_dead_letter_insert(&sql, q, dead_reason(&dp), dp.now);
					appendStringInfo(&sql,
									 ") SELECT l.msg_id, l.read_ct%s, l.enqueued_at,"
									 " l.vt, l.priority, l.group_key, l.dedup_key,"
									 " l.headers, l.body, NULL::pg_catalog.text FROM l"
									 " UNION ALL SELECT " DEAD_COLUMNS ", %s FROM d",
									 pop ? " OPERATOR(pg_catalog.+) 1" : "",
									 dead_reason(&dp));
					*nargs = 5;
					argtypes[3] = INT4OID;
					argtypes[4] = TIMESTAMPTZOID;
				}
				argtypes[0] = argtypes[1] = TIMESTAMPTZOID;
				argtypes[2] = INT8OID;
			}
			break;

		case MQ_PLAN_DELETE:
			appendStringInfo(&sql,
							 "DELETE FROM mq.q_%d WHERE msg_id OPERATOR(pg_catalog.=) $1"
							 " RETURNING msg_id, dedup_key", id);
			*nargs = 1;
			argtypes[0] = INT8OID;
			break;

		case MQ_PLAN_DELETE_MANY:
			appendStringInfo(&sql,
							 "DELETE FROM mq.q_%d"
							 " WHERE msg_id OPERATOR(pg_catalog.=) ANY ($1)"
							 " RETURNING msg_id, dedup_key", id);
			*nargs = 1;
			argtypes[0] = INT8ARRAYOID;
			break;

		case MQ_PLAN_ARCHIVE_MANY:
			appendStringInfo(&sql,
							 "WITH d AS (DELETE FROM mq.q_%d"
							 " WHERE msg_id OPERATOR(pg_catalog.=) ANY ($1) RETURNING *)"
							 " INSERT INTO mq.a_%d (msg_id, read_ct, enqueued_at, vt,"
							 " priority, group_key, dedup_key, headers, body, archived_at)"
							 " SELECT " DEAD_COLUMNS ", $2 FROM d"
							 " RETURNING msg_id, dedup_key", id, id);
			*nargs = 2;
			argtypes[0] = INT8ARRAYOID;
			argtypes[1] = TIMESTAMPTZOID;
			break;

		case MQ_PLAN_SET_VT:
			appendStringInfo(&sql,
							 "UPDATE mq.q_%d SET vt = $2"
							 " WHERE msg_id OPERATOR(pg_catalog.=) $1", id);
			*nargs = 2;
			argtypes[0] = INT8OID;
			argtypes[1] = TIMESTAMPTZOID;
			break;

		case MQ_PLAN_COUNT:
			appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM mq.q_%d", id);
			*nargs = 0;
			break;

		case MQ_PLAN_DROP_HEAD:
			/* the oldest messages that are not leased */
			appendStringInfo(&sql,
							 "WITH c AS (SELECT m.msg_id FROM mq.q_%d m"
							 " WHERE m.read_ct OPERATOR(pg_catalog.=) 0"
							 " OR m.vt OPERATOR(pg_catalog.<=) $1"
							 " ORDER BY m.msg_id LIMIT $2 FOR UPDATE SKIP LOCKED),"
							 " d AS (DELETE FROM mq.q_%d q WHERE "
							 IDS_FROM("SELECT c.msg_id FROM c")
							 " RETURNING q.*), x AS (", id, id);
			append_dead_letter_insert(&sql, q, "'maxlen'", 1);
			appendStringInfoString(&sql, ") SELECT pg_catalog.count(*) FROM d");
			*nargs = 2;
			argtypes[0] = TIMESTAMPTZOID;
			argtypes[1] = INT8OID;
			break;

		case MQ_PLAN_SWEEP:
			{
				DeadParams	dp = {1, 2, 3};

				/*
				 * Past max_receives and visible, or past the TTL and not
				 * leased (never read, or lease over).
				 */
				appendStringInfo(&sql,
								 "WITH c AS (SELECT m.msg_id FROM mq.q_%d m"
								 " WHERE (m.vt OPERATOR(pg_catalog.<=) $1"
								 " AND m.read_ct OPERATOR(pg_catalog.>=) $2)"
								 " OR (m.enqueued_at OPERATOR(pg_catalog.<=) $3"
								 " AND (m.vt OPERATOR(pg_catalog.<=) $1"
								 " OR m.read_ct OPERATOR(pg_catalog.=) 0))"
								 " LIMIT $4 FOR UPDATE SKIP LOCKED),"
								 " d AS (DELETE FROM mq.q_%d q WHERE "
								 IDS_FROM("SELECT c.msg_id FROM c")
								 " RETURNING q.*), x AS (", id, id);
				append_dead_letter_insert(&sql, q, dead_reason(&dp), dp.now);
				appendStringInfo(&sql, ") SELECT %s FROM d", dead_reason(&dp));
				*nargs = 4;
				argtypes[0] = TIMESTAMPTZOID;
				argtypes[1] = INT4OID;
				argtypes[2] = TIMESTAMPTZOID;
				argtypes[3] = INT8OID;
			}
			break;

		case MQ_PLAN_STATS:
			appendStringInfo(&sql,
							 "UPDATE mq._queue_stats SET"
							 " dead_lettered = dead_lettered OPERATOR(pg_catalog.+) $1,"
							 " expired = expired OPERATOR(pg_catalog.+) $2,"
							 " dropped = dropped OPERATOR(pg_catalog.+) $3"
							 " WHERE queue_id OPERATOR(pg_catalog.=) %d", id);
			*nargs = 3;
			argtypes[0] = argtypes[1] = argtypes[2] = INT8OID;
			break;

		case MQ_NUM_PLANS:
			elog(ERROR, "invalid statement kind");
	}
	return sql.data;
}

/*
 * Lock q's message table for the rest of the transaction, as a statement
 * on it would, and check that it still exists: a drop_queue() that
 * committed after we looked the queue up, or while we waited for the lock,
 * has removed it.  Every entry point below calls this first, so a
 * concurrent drop gives the usual error, never an internal one, and the
 * plans kept for the queue never meet a missing table.
 */
static void
storage_lock_queue(MqQueue *q)
{
	if (!OidIsValid(q->relid))
		q->relid = get_relname_relid(psprintf("q_%d", q->id),
									 get_namespace_oid("mq", false));
	if (OidIsValid(q->relid))
	{
		LockRelationOid(q->relid, RowExclusiveLock);
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(q->relid)))
			return;
		UnlockRelationOid(q->relid, RowExclusiveLock);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("queue \"%s\" does not exist", q->name),
			 errdetail("It was dropped while this call was under way."),
			 errhint("Create it with mq.create_queue().")));
}

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
		Oid			argtypes[8];
		int			nargs = 0;
		char	   *sql = statement_sql(q, kind, &nargs, argtypes);
		/* every statement here has a good generic plan: never replan */
		q->plans[kind] = mq_keep_plan(sql, nargs, argtypes);
	}

	ret = mq_execute_plan_as_owner(q->plans[kind], values, nulls, 0);
	if (ret != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/* The bigint in column col of result row row, or -1 when NULL. */
static int64
result_int64(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? -1 : DatumGetInt64(d);
}

/*
 * Rows at or after (priority, msg_id) were just inserted into q's table:
 * readers must not start past them (hint.c).
 */
static void
storage_inserted(MqQueue *q, int32 priority, int64 msg_id)
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
static TimestampTz
time_before(TimestampTz now, Interval *iv)
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
	storage_execute(q, MQ_PLAN_STATS, values, NULL, SPI_OK_UPDATE);
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
	storage_execute(q, MQ_PLAN_REMEMBER_KEYS, values, NULL, SPI_OK_INSERT);
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
			(void) SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 10,
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
			Datum		reason = SPI_getbinval(SPI_tuptable->vals[i], desc, 10,
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
		order[delivered].msg_id =
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], desc, 1, &isnull));
		order[delivered].priority =
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], desc, 5, &isnull));
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

	storage_execute(q, MQ_PLAN_COUNT, NULL, NULL, SPI_OK_SELECT);
	length = result_int64(0, 1);
	excess = length + n - q->max_length;
	if (excess <= 0)
		return;

	if (q->drop_head && n <= q->max_length)
	{
		Datum		values[2];

		values[0] = TimestampTzGetDatum(now);
		values[1] = Int64GetDatum(excess);
		storage_execute(q, MQ_PLAN_DROP_HEAD, values, NULL, SPI_OK_SELECT);
		storage_count(q, 0, 0, result_int64(0, 1));
		/* leased messages are never dropped: there may still be no room */
		storage_execute(q, MQ_PLAN_COUNT, NULL, NULL, SPI_OK_SELECT);
		length = result_int64(0, 1);
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
	values[1] = TimestampTzGetDatum(time_before(now, &q->dedup_window));
	storage_execute(q, kind, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? result_int64(0, 1) : -1;
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
		if ((rel = storage_open_table(q)) != NULL)
		{
			bool		hnull = (headers == NULL);
			bool		gnull = (group_key == NULL);

			storage_insert_rows(q, rel, 1, now, vt, priority, &values[6],
								&values[5], &hnull, &values[3], &gnull,
								&msg_id);
			return msg_id;
		}
		storage_execute(q, MQ_PLAN_SEND, values, nulls, SPI_OK_INSERT_RETURNING);
		msg_id = result_int64(0, 1);
		storage_inserted(q, priority, msg_id);
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
		storage_execute(q, MQ_PLAN_SEND_DEDUP, values, nulls,
						SPI_OK_INSERT_RETURNING);
		if (SPI_processed == 0)
			continue;			/* someone else's message has the key */
		msg_id = result_int64(0, 1);
		storage_inserted(q, priority, msg_id);

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

				storage_execute(q, MQ_PLAN_DELETE, &id, NULL,
								SPI_OK_DELETE_RETURNING);
				return acked;
			}
		}
		return msg_id;
	}
}

int64
mq_storage_send(MqQueue *q, TimestampTz now, TimestampTz vt, int32 priority,
				text *group_key, text *dedup_key, Jsonb *headers, Jsonb *body)
{
	int64		msg_id;

	storage_lock_queue(q);
	storage_connect();
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

/*
 * Messages without dedup keys go straight into the table with
 * table_multi_insert() and the executor's index insertion, as COPY does:
 * for a batch, one WAL record and one buffer lock per page of messages
 * instead of one per message; for a single send, no plan and no executor
 * start-up.  The caller has checked the messages and the privileges (the
 * table's own are closed; this path does not consult them).
 *
 * storage_open_table() returns NULL when the table has triggers (somebody
 * added one to mq's table): then the SQL path runs, and the triggers with it.
 * It does so too when mq.direct_access is off.
 */
#define MQ_MULTI_INSERT_CHUNK 1000

static Relation
storage_open_table(MqQueue *q)
{
	Relation	rel;

	if (!mq_direct_access)
		return NULL;
	storage_lock_queue(q);
	rel = table_open(q->relid, NoLock);
	if (!OidIsValid(q->seqid))
		q->seqid = mq_identity_sequence(rel, 1);
	if (rel->trigdesc != NULL)
	{
		table_close(rel, NoLock);
		return NULL;
	}
	return rel;
}

/*
 * Insert n messages into rel (from storage_open_table), closing it; their
 * ids go to ids[].  headers and groups may be NULL.
 */
static void
storage_insert_rows(MqQueue *q, Relation rel, int n, TimestampTz now,
					TimestampTz vt, int32 priority, Datum *bodies,
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
			/* msg_id, read_ct, enqueued_at, vt, priority, group_key, dedup_key, headers, body */
			ids[row] = nextval_internal(q->seqid, false);
			slot->tts_values[0] = Int64GetDatum(ids[row]);
			slot->tts_values[1] = Int32GetDatum(0);
			slot->tts_values[2] = TimestampTzGetDatum(now);
			slot->tts_values[3] = TimestampTzGetDatum(vt);
			slot->tts_values[4] = Int32GetDatum(priority);
			slot->tts_values[5] = groups ? groups[row] : (Datum) 0;
			slot->tts_values[6] = (Datum) 0;
			slot->tts_values[7] = headers ? headers[row] : (Datum) 0;
			slot->tts_values[8] = bodies[row];
			memset(slot->tts_isnull, 0, sizeof(bool) * 9);
			slot->tts_isnull[5] = groups == NULL || gnulls[row];
			slot->tts_isnull[6] = true;
			slot->tts_isnull[7] = headers == NULL || hnulls[row];
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
		storage_inserted(q, priority, ids[0]);
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
storage_multi_insert(MqQueue *q, TimestampTz now, TimestampTz vt,
					 int32 priority, MqBatch *batch,
					 Tuplestorestate *out, TupleDesc outdesc)
{
	Relation	rel = storage_open_table(q);
	int			n = batch->n;
	int64	   *ids;
	int			i;

	if (rel == NULL)
		return false;
	ids = palloc(sizeof(int64) * n);
	storage_insert_rows(q, rel, n, now, vt, priority, batch->bodies.values,
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

void
mq_storage_send_batch(MqQueue *q, TimestampTz now, TimestampTz vt,
					  int32 priority, MqBatch *batch,
					  Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			n = batch->n;

	storage_lock_queue(q);
	storage_connect();
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
	if (storage_multi_insert(q, now, vt, priority, batch, out, outdesc))
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
	storage_execute(q, MQ_PLAN_SEND_BATCH, values, nulls,
					SPI_OK_INSERT_RETURNING);
	if (SPI_processed > 0)
	{
		int64		first = PG_INT64_MAX;
		uint64		i;

		for (i = 0; i < SPI_processed; i++)
			first = Min(first, result_int64(i, 1));
		storage_inserted(q, priority, first);
	}
	storage_put_ids(out, outdesc);
	SPI_finish();
}

/*
 * Leases, pops and acks without SQL.
 *
 * The statements above pay, per call, for SPI, the plan cache's checks and
 * executor start-up, which is most of the cost of taking or acking one
 * message.  In a READ COMMITTED transaction the common cases go through the
 * table and index access methods instead, with the same guarantees:
 *
 * A lease walks the delivery-order index with a fresh snapshot, locks
 * each visible candidate without waiting (table_tuple_lock, LockWaitSkip)
 * and updates it.  The lock succeeds only on the newest version of the row,
 * and only when no other transaction holds or changes it.  A row that
 * another reader is leasing (or acking, or has just leased and committed
 * since our snapshot) gives TM_WouldBlock or TM_Updated and is skipped, as
 * SKIP LOCKED skips it; so two readers never both get a row.  A pop deletes
 * the row with table_tuple_delete(wait = false), which is its own lock.
 *
 * On a FIFO queue a candidate whose group has an earlier message (in
 * flight, delayed, visible, being acked, or being sent) is passed over by a
 * probe of the group index, as the statements do with mq._group_has_older().
 *
 * Only what the statements do plainly is done here: REPEATABLE READ and
 * SERIALIZABLE transactions take the SQL path, and a lease that meets a
 * candidate past max_receives or message_ttl stops there and lets the SQL
 * statement dead-letter it and go on.
 */

/* May q be read and acked here without SQL? */
static bool
storage_direct_ok(MqQueue *q)
{
	return !IsolationUsesXactSnapshot();
}

/*
 * The index of rel, the message table of q, named q_<id>_<suffix>, or
 * InvalidOid if it is missing.  The OID is kept in *cached, and checked
 * against the table's index list on every call (REINDEX CONCURRENTLY
 * replaces it).
 */
static Oid
storage_index(MqQueue *q, Relation rel, const char *suffix, Oid *cached)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	char	   *name;

	if (OidIsValid(*cached) && list_member_oid(indexes, *cached))
		return *cached;
	*cached = InvalidOid;
	name = psprintf("q_%d_%s", q->id, suffix);
	foreach(lc, indexes)
	{
		char	   *relname = get_rel_name(lfirst_oid(lc));

		if (relname != NULL && strcmp(relname, name) == 0)
			*cached = lfirst_oid(lc);
	}
	return *cached;
}

/* A varlena to hand out: TOAST pointers fetched, so it outlives the row. */
static Datum
storage_detoast(Datum value, bool isnull)
{
	if (!isnull && VARATT_IS_EXTERNAL(DatumGetPointer(value)))
		return PointerGetDatum(detoast_external_attr((struct varlena *)
													 DatumGetPointer(value)));
	return value;
}

/*
 * Is the row that index entry tid leads to gone for good: no version of it
 * visible now, nor inserted or deleted by a transaction in progress?  (A
 * dirty snapshot sees exactly those.)  If not, *key gets its position.
 * *fetch and *slot are made on first use.
 */
static bool
storage_dead_for_good(Relation rel, IndexFetchTableData **fetch,
					  TupleTableSlot **slot, ItemPointer tid, MqKey *key)
{
	SnapshotData dirty;
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		isnull;

	if (*fetch == NULL)
	{
		*fetch = mq_index_fetch_begin(rel);
		*slot = table_slot_create(rel, NULL);
	}
	InitDirtySnapshot(dirty);
	if (!table_index_fetch_tuple(*fetch, &t, &dirty, *slot, &call_again,
								 &all_dead))
		return true;
	key->priority = DatumGetInt32(slot_getattr(*slot, 5, &isnull));
	key->msg_id = DatumGetInt64(slot_getattr(*slot, 1, &isnull));
	return false;
}

/* What the rows of one direct lease or pop share */
typedef struct DirectTake
{
	Relation	rel;
	CommandId	cid;
	Snapshot	snapshot;
	TupleTableSlot *newslot;	/* the leased version */
	EState	   *estate;			/* for index entries, made on first use */
	ResultRelInfo *rri;
	Relation	group_index;	/* FIFO queues only */
	TupleTableSlot *groupslot;
	bool		probe_stale;	/* a take failed: forget blocked groups */
	uint64		probe_gen;		/* how many times they were forgotten */
	HTAB	   *blocked;		/* BlockedGroup: groups known to be blocked */
	MemoryContext blocked_cxt;	/* holds it and its keys */
} DirectTake;

/*
 * A group in which a probe under probe snapshot number gen found a message
 * older than msg_id.  Under the same snapshot every message of the group
 * from msg_id on is blocked too (by that older one), so they are passed
 * over without a probe: a queue of many messages in few blocked groups
 * costs a walk, not a probe per message.  (Not "every later message the
 * walk meets": with priorities the walk can meet a group's newer messages
 * before its older ones.)  The cache only ever says "blocked", so a wrong
 * entry could delay a message, never hand out two of a group.
 */
typedef struct BlockedGroup
{
	text	   *key;			/* hash key: the group key (a copy) */
	uint64		gen;
	int64		msg_id;			/* blocked from this message on */
} BlockedGroup;

/*
 * Group keys compare as bytes, as texteq does: group_key has the database's
 * default collation, which is deterministic.
 */
static uint32
group_key_hash(const void *key, Size keysize)
{
	const text *t = *(text *const *) key;

	return DatumGetUInt32(hash_any((const unsigned char *) VARDATA_ANY(t),
								   VARSIZE_ANY_EXHDR(t)));
}

static int
group_key_match(const void *key1, const void *key2, Size keysize)
{
	const text *a = *(text *const *) key1;
	const text *b = *(text *const *) key2;

	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0 ? 0 : 1;
}

/*
 * Does group_key have a message older than msg_id in rel?  Then the message
 * is not the head of its group and must wait (FIFO queues).
 *
 * The probe uses a dirty snapshot: it sees every message that exists now or
 * is being sent, leased or acked by a transaction in progress.  Rows this
 * transaction leased or deleted still count, as do the messages of a send
 * not yet committed: the group's later messages wait for that send to end,
 * or a reader would get one of them and, after the commit, the earlier
 * message too while the later one was leased (two in flight, out of order).
 * Whatever snapshot the walk of the delivery order uses sees no older
 * message that the probe misses but messages acked since, which are gone.
 */
static bool
group_has_older(Relation rel, Relation group_index, TupleTableSlot *slot,
				Datum group_key, int64 msg_id)
{
	SnapshotData dirty;
	ScanKeyData scankeys[2];
	IndexScanDesc scan;
	bool		found;

	InitDirtySnapshot(dirty);
	ScanKeyEntryInitialize(&scankeys[0], 0, 1, BTEqualStrategyNumber,
						   InvalidOid, group_index->rd_indcollation[0],
						   F_TEXTEQ, group_key);
	ScanKeyEntryInitialize(&scankeys[1], 0, 2, BTLessStrategyNumber,
						   InvalidOid, group_index->rd_indcollation[1],
						   F_INT8LT, Int64GetDatum(msg_id));
	scan = mq_index_beginscan(rel, group_index, &dirty, 2);
	index_rescan(scan, scankeys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * mq._group_has_older(queue_table oid, group_key text, msg_id bigint)
 * returns bool: group_has_older() for the SQL statements (REPEATABLE READ
 * readers, leases that dead-letter), whose snapshots do not see sends in
 * progress.  The group index is found once per statement.
 */
Datum
mq_group_has_older(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid		   *indexid = fcinfo->flinfo->fn_extra;
	Relation	rel;
	Relation	index;
	TupleTableSlot *slot;
	bool		found;

	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL || rel->rd_rel->relkind != RELKIND_RELATION ||
		RelationGetNamespace(rel) != get_namespace_oid("mq", false) ||
		strncmp(RelationGetRelationName(rel), "q_", 2) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation with OID %u is not the message table of a queue", relid)));
	if (indexid == NULL)
	{
		char	   *name = psprintf("%s_group", RelationGetRelationName(rel));
		List	   *indexes = RelationGetIndexList(rel);
		ListCell   *lc;

		indexid = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(Oid));
		foreach(lc, indexes)
		{
			char	   *relname = get_rel_name(lfirst_oid(lc));

			if (relname != NULL && strcmp(relname, name) == 0)
				*indexid = lfirst_oid(lc);
		}
		if (!OidIsValid(*indexid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" is not the message table of a FIFO queue",
							RelationGetRelationName(rel))));
		fcinfo->flinfo->fn_extra = indexid;
	}
	index = index_open(*indexid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	found = group_has_older(rel, index, slot, PG_GETARG_DATUM(1),
							PG_GETARG_INT64(2));
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	relation_close(rel, AccessShareLock);
	PG_RETURN_BOOL(found);
}

/*
 * Is msg_id held back by an older message of its group (group_has_older)?
 * The answers are remembered per group for the walk: a group blocked at
 * msg_id is blocked for every later message until a take fails, which
 * means other readers leased or acked meanwhile and the head may be gone.
 */
static bool
storage_group_blocked(DirectTake *dt, Datum group_key, int64 msg_id)
{
	bool		found;
	text	   *key = DatumGetTextPP(group_key);
	BlockedGroup *bg;

	if (dt->probe_stale)
	{
		dt->probe_stale = false;
		dt->probe_gen++;
	}
	if (dt->blocked != NULL)
	{
		bg = hash_search(dt->blocked, &key, HASH_FIND, NULL);
		if (bg != NULL && bg->gen == dt->probe_gen && msg_id >= bg->msg_id)
			return true;
	}

	found = group_has_older(dt->rel, dt->group_index, dt->groupslot,
							group_key, msg_id);

	if (found)
	{
		bool		known;

		if (dt->blocked == NULL)
		{
			HASHCTL		ctl;

			dt->blocked_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"mq blocked groups",
													ALLOCSET_SMALL_SIZES);
			ctl.keysize = sizeof(text *);
			ctl.entrysize = sizeof(BlockedGroup);
			ctl.hash = group_key_hash;
			ctl.match = group_key_match;
			ctl.hcxt = dt->blocked_cxt;
			dt->blocked = hash_create("mq blocked groups", 64, &ctl,
									  HASH_ELEM | HASH_FUNCTION |
									  HASH_COMPARE | HASH_CONTEXT);
		}
		bg = hash_search(dt->blocked, &key, HASH_ENTER, &known);
		if (!known)
		{
			/* the entry holds the slot's pointer until it gets a copy */
			bg->key = MemoryContextAlloc(dt->blocked_cxt, VARSIZE_ANY(key));
			memcpy(bg->key, key, VARSIZE_ANY(key));
		}
		if (!known || bg->gen != dt->probe_gen || msg_id < bg->msg_id)
			bg->msg_id = msg_id;
		bg->gen = dt->probe_gen;
	}
	return found;
}

/*
 * Take the row in slot: lease it until vt, or delete it for pop.  Never
 * waits: a row that another transaction holds or changed since our
 * snapshot gives something other than TM_Ok.
 *
 * A delete can be told not to wait.  An update cannot: heap_update()
 * handles only wait = true for a row that another transaction holds (an
 * assertion-enabled server stops at Assert(result != TM_BeingModified ||
 * wait)).  So a lease first locks the row without waiting, as SKIP LOCKED
 * does, and then updates it; holding the lock, the update never waits.
 */
static TM_Result
storage_take_row(DirectTake *dt, TupleTableSlot *slot, bool pop,
				 TimestampTz vt)
{
	TM_FailureData tmfd;
	TM_Result	result;
	MqIndexUpdate indexes;

	if (pop)
		return mq_tuple_delete(dt->rel, &slot->tts_tid, dt->cid,
							   dt->snapshot, false, &tmfd);

	result = table_tuple_lock(dt->rel, &slot->tts_tid, dt->snapshot, slot,
							  dt->cid, LockTupleNoKeyExclusive, LockWaitSkip,
							  0, &tmfd);
	if (result != TM_Ok)
		return result;
	/* the lock stored the row in slot anew (the same version) */
	slot_getallattrs(slot);

	ExecClearTuple(dt->newslot);
	memcpy(dt->newslot->tts_values, slot->tts_values, sizeof(Datum) * 9);
	memcpy(dt->newslot->tts_isnull, slot->tts_isnull, sizeof(bool) * 9);
	dt->newslot->tts_values[1] =
		Int32GetDatum(DatumGetInt32(slot->tts_values[1]) + 1);
	dt->newslot->tts_values[3] = TimestampTzGetDatum(vt);
	ExecStoreVirtualTuple(dt->newslot);
	result = mq_tuple_update(dt->rel, &slot->tts_tid, dt->newslot, dt->cid,
							 dt->snapshot, true, &tmfd, &indexes);
	if (result != TM_Ok || indexes == MQ_INDEX_NONE)
		return result;

	/* not a HOT update: the new version needs index entries */
	if (dt->estate == NULL)
	{
		dt->estate = CreateExecutorState();
		dt->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(dt->rri, dt->rel, 1, NULL, 0);
		ExecOpenIndices(dt->rri, false);
	}
	ResetPerTupleExprContext(dt->estate);
	mq_insert_index_tuples(dt->rri, dt->newslot, dt->estate, indexes);
	return TM_Ok;
}

/*
 * Start a scan of range number range of the delivery order.  From the hint
 * (p, m) the rest of the order is two ranges of the index: priority = p
 * and msg_id >= m, then priority < p.  Without a hint, one range: all of
 * it.  Returns NULL when there is no such range.
 */
static IndexScanDesc
storage_begin_range(DirectTake *dt, Relation index, const MqHintRead *hint,
					int range)
{
	ScanKeyData scankeys[2];
	int			nscankeys = 0;
	IndexScanDesc scan;

	if (range >= (hint->usable ? 2 : 1))
		return NULL;
	if (hint->usable && range == 0)
	{
		ScanKeyInit(&scankeys[0], 1, BTEqualStrategyNumber, F_INT4EQ,
					Int32GetDatum(hint->key.priority));
		ScanKeyInit(&scankeys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE,
					Int64GetDatum(hint->key.msg_id));
		nscankeys = 2;
	}
	else if (hint->usable)
	{
		ScanKeyInit(&scankeys[0], 1, BTLessStrategyNumber, F_INT4LT,
					Int32GetDatum(hint->key.priority));
		nscankeys = 1;
	}
	scan = mq_index_beginscan(dt->rel, index, dt->snapshot, nscankeys);
	index_rescan(scan, scankeys, nscankeys, NULL, 0);
	return scan;
}

/*
 * Lease (or pop) up to qty messages of q without SQL, appending them to out
 * in delivery order.  Returns how many; *more is set when the SQL statement
 * must go on: the table cannot be used directly, or a candidate is past its
 * limits and must be dead-lettered.  Dedup keys of popped messages go to
 * keys[] and ids[] (room for qty), their count to *nkeys.
 */
static uint64
storage_take_direct(MqQueue *q, bool pop, TimestampTz now, TimestampTz vt,
					int64 qty, TimestampTz cutoff, Tuplestorestate *out,
					TupleDesc outdesc, bool *more, Datum *keys, Datum *ids,
					int *nkeys)
{
	DirectTake	dt = {0};
	Relation	index;
	Oid			indexid;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	uint64		delivered = 0;
	MqHintRead	hint;
	MqKey		first;
	bool		have_first = false;
	bool		may_move_hint;
	IndexFetchTableData *fetch = NULL;
	TupleTableSlot *dirtyslot = NULL;
	int			range;
	Oid			groupid;

	*more = false;
	*nkeys = 0;
	if ((dt.rel = storage_open_table(q)) == NULL)
	{
		*more = true;
		return 0;
	}
	indexid = storage_index(q, dt.rel, "order", &q->order_index);
	groupid = q->fifo ? storage_index(q, dt.rel, "group", &q->group_index) :
		InvalidOid;
	if (!OidIsValid(indexid) || (q->fifo && !OidIsValid(groupid)))
	{
		table_close(dt.rel, NoLock);
		*more = true;
		return 0;
	}

	/*
	 * The hint first, then the snapshot: see hint.c.  Rows that this
	 * transaction deleted look dead for good but come back if it rolls
	 * back; so a transaction that wrote anything before this call uses the
	 * hint but does not move it.
	 */
	mq_hint_read(q->id, now, &hint);
	may_move_hint = !TransactionIdIsValid(GetTopTransactionIdIfAny());

	/* see what committed up to now, and what this transaction did */
	CommandCounterIncrement();
	dt.cid = GetCurrentCommandId(true);
	dt.snapshot = RegisterSnapshot(GetLatestSnapshot());
	index = index_open(indexid, RowExclusiveLock);
	slot = table_slot_create(dt.rel, NULL);
	dt.newslot = table_slot_create(dt.rel, NULL);
	if (q->fifo)
	{
		dt.group_index = index_open(groupid, RowExclusiveLock);
		dt.groupslot = table_slot_create(dt.rel, NULL);
	}

	for (range = 0;
		 delivered < qty && !*more &&
		 (scan = storage_begin_range(&dt, index, &hint, range)) != NULL;
		 range++)
	{
		ItemPointer tid;

		while (delivered < qty &&
			   (tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			Datum	   *values = slot->tts_values;
			bool	   *isnull = slot->tts_isnull;
			Datum		outvalues[9];
			int			i;

			CHECK_FOR_INTERRUPTS();
			if (!index_fetch_heap(scan, slot))
			{
				/* the new hint goes no further than a row that may come back */
				if (!have_first)
					have_first = !storage_dead_for_good(dt.rel, &fetch,
														&dirtyslot, tid,
														&first);
				continue;
			}
			/* msg_id, read_ct, enqueued_at, vt, priority, group_key, dedup_key, headers, body */
			slot_getallattrs(slot);
			if (!have_first)
			{
				first.priority = DatumGetInt32(values[4]);
				first.msg_id = DatumGetInt64(values[0]);
				have_first = true;
			}
			if (DatumGetTimestampTz(values[3]) > now)
				continue;		/* leased or delayed */
			if (q->fifo && !isnull[5] &&
				storage_group_blocked(&dt, values[5], DatumGetInt64(values[0])))
				continue;		/* not the head of its group */
			if ((q->max_receives > 0 &&
				 DatumGetInt32(values[1]) >= q->max_receives) ||
				DatumGetTimestampTz(values[2]) <= cutoff)
			{
				*more = true;	/* a dead letter: the SQL statement moves it */
				break;
			}
			/* held, changed or removed by another transaction: skip it */
			if (storage_take_row(&dt, slot, pop, vt) != TM_Ok)
			{
				dt.probe_stale = true;
				continue;
			}

			memcpy(outvalues, values, sizeof(Datum) * 5);
			for (i = 5; i < 9; i++) /* group_key, dedup_key, headers, body */
				outvalues[i] = storage_detoast(values[i], isnull[i]);
			outvalues[1] = Int32GetDatum(DatumGetInt32(values[1]) + 1);
			if (!pop)
				outvalues[3] = TimestampTzGetDatum(vt);
			tuplestore_putvalues(out, outdesc, outvalues, isnull);
			if (pop && !isnull[6])
			{
				keys[*nkeys] = outvalues[6];
				ids[*nkeys] = values[0];
				(*nkeys)++;
			}
			delivered++;
		}
		index_endscan(scan);
	}

	/*
	 * Every entry before first is dead for good.  (A scan that met no live
	 * entry keeps the old hint: rows that mq does not announce, such as
	 * ones inserted by hand, then still come after it if they are new.)
	 */
	if (have_first && may_move_hint)
		mq_hint_store(q->id, &hint, &first, now);

	if (fetch != NULL)
		table_index_fetch_end(fetch);
	if (dirtyslot != NULL)
		ExecDropSingleTupleTableSlot(dirtyslot);
	ExecDropSingleTupleTableSlot(slot);
	ExecDropSingleTupleTableSlot(dt.newslot);
	if (dt.estate != NULL)
	{
		ExecCloseIndices(dt.rri);
		FreeExecutorState(dt.estate);
	}
	if (dt.group_index != NULL)
	{
		if (dt.blocked_cxt != NULL)
			MemoryContextDelete(dt.blocked_cxt);	/* and the hash in it */
		ExecDropSingleTupleTableSlot(dt.groupslot);
		index_close(dt.group_index, NoLock);
	}
	index_close(index, NoLock);
	UnregisterSnapshot(dt.snapshot);
	table_close(dt.rel, NoLock);
	CommandCounterIncrement();
	return delivered;
}

/*
 * Delete message msg_id of q without SQL.  Returns 1 if deleted, 0 if there
 * is no such message, -1 if the SQL statement must do it.  *key gets its
 * dedup key (or NULL).  Like DELETE in READ COMMITTED, waits for a
 * transaction that holds the row and, when that one changed it, deletes
 * the new version.
 */
static int
storage_delete_direct(MqQueue *q, int64 msg_id, text **key)
{
	Relation	rel = storage_open_table(q);
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
			Datum		k = slot_getattr(slot, 7, &isnull);

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

/*
 * Lease (or, for pop, take) up to qty visible messages.  Candidates past
 * max_receives or message_ttl are dead-lettered on the way; when that leaves
 * the answer short, look again.
 */
static uint64
storage_take(MqQueue *q, MqPlanKind kind, TimestampTz now, TimestampTz vt,
			 int64 qty, Tuplestorestate *out, TupleDesc outdesc)
{
	Datum		values[5];
	uint64		delivered = 0;
	bool		dead = has_dead_letters(q);
	TimestampTz cutoff = q->has_ttl ? time_before(now, &q->message_ttl) :
		DT_NOBEGIN;

	storage_lock_queue(q);
	if (storage_direct_ok(q))
	{
		bool		more;
		bool		pop = (kind == MQ_PLAN_POP);
		Datum	   *keys = pop ? palloc(sizeof(Datum) * qty) : NULL;
		Datum	   *ids = pop ? palloc(sizeof(Datum) * qty) : NULL;
		int			nkeys;

		delivered = storage_take_direct(q, pop, now, vt, qty, cutoff, out,
										outdesc, &more, keys, ids, &nkeys);
		if (nkeys > 0 && has_dedup_window(q))
		{
			storage_connect();
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

	storage_connect();
	for (;;)
	{
		uint64		found;
		uint64		got;
		int64		dead_lettered = 0;
		int64		expired = 0;

		values[2] = Int64GetDatum(qty - delivered);
		storage_execute(q, kind, values, NULL,
						!dead ? (kind == MQ_PLAN_POP ? SPI_OK_DELETE_RETURNING :
								 SPI_OK_UPDATE_RETURNING) : SPI_OK_SELECT);
		found = SPI_processed;
		got = storage_put_messages(out, outdesc, &dead_lettered, &expired);
		if (kind == MQ_PLAN_POP)
			storage_remember_keys(q, now, 1, 7);
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

uint64
mq_storage_lease(MqQueue *q, TimestampTz now, TimestampTz vt, int64 qty,
				 Tuplestorestate *out, TupleDesc outdesc)
{
	return storage_take(q, MQ_PLAN_LEASE, now, vt, qty, out, outdesc);
}

uint64
mq_storage_pop(MqQueue *q, TimestampTz now, int64 qty,
			   Tuplestorestate *out, TupleDesc outdesc)
{
	return storage_take(q, MQ_PLAN_POP, now, now, qty, out, outdesc);
}

bool
mq_storage_ack(MqQueue *q, TimestampTz now, int64 msg_id)
{
	Datum		values[2];
	uint64		n;

	storage_lock_queue(q);
	if (!q->archive && storage_direct_ok(q))
	{
		text	   *key;
		int			deleted = storage_delete_direct(q, msg_id, &key);

		if (deleted >= 0)
		{
			if (key != NULL && has_dedup_window(q))
			{
				Datum		k = PointerGetDatum(key);
				Datum		id = Int64GetDatum(msg_id);

				storage_connect();
				remember_keys(q, now, &k, &id, 1);
				SPI_finish();
			}
			return deleted > 0;
		}
	}

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
		storage_execute(q, MQ_PLAN_DELETE, values, NULL,
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

	storage_lock_queue(q);
	values[0] = PointerGetDatum(ids);
	values[1] = TimestampTzGetDatum(now);

	storage_connect();
	if (archive)
		storage_execute(q, MQ_PLAN_ARCHIVE_MANY, values, NULL,
						SPI_OK_INSERT_RETURNING);
	else
		storage_execute(q, MQ_PLAN_DELETE_MANY, values, NULL,
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

	storage_lock_queue(q);
	values[0] = Int64GetDatum(msg_id);
	values[1] = TimestampTzGetDatum(vt);

	storage_connect();
	storage_execute(q, MQ_PLAN_SET_VT, values, NULL, SPI_OK_UPDATE);
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
	if (!has_dead_letters(q))
		return;
	storage_lock_queue(q);

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(q->max_receives > 0 ? q->max_receives : PG_INT32_MAX);
	values[2] = TimestampTzGetDatum(q->has_ttl ?
									time_before(now, &q->message_ttl) :
									DT_NOBEGIN);
	values[3] = Int64GetDatum(MQ_SWEEP_BATCH);

	storage_connect();
	for (;;)
	{
		uint64		i;
		int64		d = 0,
					e = 0;

		storage_execute(q, MQ_PLAN_SWEEP, values, NULL, SPI_OK_SELECT);
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
