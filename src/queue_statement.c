/*-------------------------------------------------------------------------
 *
 * queue_statement.c
 *	  The statements run against a queue's tables: one builder per kind,
 *	  each prepared once per backend with a generic plan, kept in the
 *	  queue's cache entry, and run as the extension owner with typed
 *	  parameters.  User data is never SQL text; every operator and function
 *	  is schema qualified.  See src/README.md ("Storage").
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
#include "spi.h"
#include "queue_int.h"
#include "wait.h"

/*
 * The statements being built are for tables of 0.7.0's layout: a database
 * whose extension is not yet updated, served by this library.  Its tables
 * lack the columns from payload on (its mq.message too): statements then
 * leave them out, and read them as NULL.  Set by statement_sql().
 */
static bool legacy_layout;

/*
 * The columns of mq.message, in order, from table alias a (a message table,
 * or a CTE of its rows); read_once_more adds one to read_ct (a pop's)
 */
static char *
message_columns(const char *a, bool read_once_more)
{
	const char *plus = read_once_more ? " OPERATOR(pg_catalog.+) 1" : "";

	if (legacy_layout)
		return psprintf("%1$s.msg_id, %1$s.read_ct%2$s, %1$s.enqueued_at, %1$s.vt,"
						" %1$s.priority, %1$s.group_key, %1$s.dedup_key,"
						" %1$s.headers, %1$s.body, NULL::pg_catalog.bytea,"
						" NULL::pg_catalog.text, NULL::pg_catalog.text,"
						" NULL::pg_catalog.text, NULL::pg_catalog.text,"
						" NULL::pg_catalog.timestamptz, NULL::pg_catalog.text", a, plus);
	return psprintf("%1$s.msg_id, %1$s.read_ct%2$s, %1$s.enqueued_at, %1$s.vt,"
					" %1$s.priority, %1$s.group_key, %1$s.dedup_key,"
					" %1$s.headers, %1$s.body, %1$s.payload, %1$s.content_type,"
					" %1$s.content_encoding, %1$s.correlation_id,"
					" %1$s.reply_to, %1$s.expires_at, %1$s.sent_by", a, plus);
}

/*
 * The columns from payload on that a dead letter or a redriven message
 * keeps (prefixed by ", "; none in the legacy layout), and their values
 * from a CTE named d: all but its own expiry (RabbitMQ removes the
 * expiration of a dead-lettered message too, so that it does not expire
 * again where it goes).  The archive keeps the expiry too.
 */
static const char *
moved_columns(bool archive)
{
	if (legacy_layout)
		return "";
	return archive ?
		", payload, content_type, content_encoding, correlation_id, reply_to,"
		" sent_by, expires_at" :
		", payload, content_type, content_encoding, correlation_id, reply_to,"
		" sent_by";
}

static const char *
moved_values(bool archive)
{
	if (legacy_layout)
		return "";
	return archive ?
		", d.payload, d.content_type, d.content_encoding, d.correlation_id,"
		" d.reply_to, d.sent_by, d.expires_at" :
		", d.payload, d.content_type, d.content_encoding, d.correlation_id,"
		" d.reply_to, d.sent_by";
}

/* a message's own expiry, if the layout has it, is at or before $now_param */
static char *
expired_by_message(int now_param)
{
	if (legacy_layout)
		return pstrdup("false");
	return psprintf("COALESCE(%s.expires_at OPERATOR(pg_catalog.<=) $%d, false)",
					"m", now_param);
}

/* where the plan of a statement kind has the limits of a dead-letter check */
typedef struct DeadParams
{
	int			now;			/* $n: the time of the move */
	int			max_receives;	/* $n: int4, or 0 when not used */
	int			cutoff;			/* $n: enqueued_at at or before it expired */
} DeadParams;

/*
 * The headers of a dead letter of queue (a row of d): an "x-death" entry
 * (as RabbitMQ's) saying why, from where and when; refused, when not NULL,
 * says why its dead-letter queue did not take it.
 */
static char *
dead_letter_headers(const char *queue, const char *reason, int now_param,
					const char *dead_letter_queue, const char *refused)
{
	return psprintf("COALESCE(d.headers, '{}'::pg_catalog.jsonb) OPERATOR(pg_catalog.||)"
					" pg_catalog.jsonb_build_object('x-death',"
					" pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object("
					"'reason', %s, 'queue', %s, 'count', d.read_ct, 'time', $%d,"
					" 'first_enqueued_at', d.enqueued_at, 'msg_id', d.msg_id%s%s%s%s))"
					" OPERATOR(pg_catalog.||) COALESCE(d.headers"
					" OPERATOR(pg_catalog.->) 'x-death', '[]'::pg_catalog.jsonb))",
					reason, quote_literal_cstr(queue), now_param,
					refused ? ", 'dead_letter_queue', " : "",
					refused ? quote_literal_cstr(dead_letter_queue) : "",
					refused ? ", 'refused', " : "",
					refused ? quote_literal_cstr(refused) : "");
}

/* Append a CTE that archives the rows of rows (d, or a part of it) in id. */
static void
append_archive_cte(StringInfo sql, const char *cte, int32 id,
				   const char *rows, const char *headers, int now_param)
{
	appendStringInfo(sql,
					 ", %s AS (INSERT INTO mq.a_%d (msg_id, read_ct, enqueued_at,"
					 " vt, priority, group_key, dedup_key, headers, body,"
					 " archived_at%s)"
					 " SELECT d.msg_id, d.read_ct, d.enqueued_at, d.vt,"
					 " d.priority, d.group_key, d.dedup_key, %s, d.body, $%d%s"
					 " FROM %s)",
					 cte, id, moved_columns(true), headers, now_param,
					 moved_values(true), rows);
}

/*
 * Append CTEs that drop the oldest messages of q's dead-letter queue (those
 * not leased) to make room for the rows of d, as a send to a queue with
 * overflow 'drop_head' would (queue_insert.c): the dropped go to that
 * queue's archive with the reason "maxlen" and are counted.  CTE h holds
 * them.
 */
static void
append_dead_letter_drop_head(StringInfo sql, MqQueue *q, int now_param)
{
	int32		dlq = q->dead_letter_queue_id;

	appendStringInfo(sql,
					 ", h AS (DELETE FROM mq.q_%d o WHERE o.msg_id OPERATOR(pg_catalog.=) ANY (ARRAY("
					 "SELECT m.msg_id FROM mq.q_%d m"
					 " WHERE m.read_ct OPERATOR(pg_catalog.=) 0"
					 " OR m.vt OPERATOR(pg_catalog.<=) $%d"
					 " ORDER BY m.msg_id LIMIT (SELECT GREATEST(0::pg_catalog.int8,"
					 " pg_catalog.count(*)"
					 " OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM d)"
					 " OPERATOR(pg_catalog.-) " INT64_FORMAT ") FROM mq.q_%d)"
					 " FOR UPDATE SKIP LOCKED)) RETURNING o.*)",
					 dlq, dlq, now_param, q->dead_letter_max_length, dlq);
	append_archive_cte(sql, "ha", dlq, "h d",
					   dead_letter_headers(q->dead_letter_queue, "'maxlen'",
										   now_param, NULL, NULL),
					   now_param);
	appendStringInfo(sql,
					 ", hs AS (UPDATE mq._queue_stats"
					 " SET dropped = dropped OPERATOR(pg_catalog.+)"
					 " (SELECT pg_catalog.count(*) FROM h)"
					 " WHERE queue_id OPERATOR(pg_catalog.=) %d"
					 " AND EXISTS (SELECT 1 FROM h))", dlq);
}

/*
 * Append the CTEs that move the rows of CTE d (deleted from q) to where dead
 * letters of q go: its dead-letter queue as new messages, or its archive.
 * reason is an SQL expression over d.
 *
 * Privileges and bounds are checked where the message moves.  A dead-letter
 * queue that q's owner may no longer send to takes nothing: the dead letters
 * go to q's archive, their x-death entry saying "refused": "permission".
 * One with max_length takes what fits, as a send would: with overflow
 * 'drop_head' after dropping its oldest messages; what does not fit goes to
 * q's archive with "refused": "full".  The caller serialises the moves into
 * a bounded queue with its senders (mq_queue_lock_senders()).
 */
static void
append_dead_letter_ctes(StringInfo sql, MqQueue *q, const char *reason,
						int now_param)
{
	char	   *death = dead_letter_headers(q->name, reason, now_param, NULL, NULL);
	char	   *room;

	if (q->dead_letter_queue_id == 0)
	{
		append_archive_cte(sql, "x", q->id, "d", death, now_param);
		return;
	}
	if (!q->dead_letter_allowed)
	{
		append_archive_cte(sql, "x", q->id, "d",
						   dead_letter_headers(q->name, reason, now_param,
											   q->dead_letter_queue,
											   "permission"),
						   now_param);
		return;
	}
	if (q->dead_letter_max_length == 0)
	{
		appendStringInfo(sql,
						 ", x AS (INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
						 " group_key, headers, body%s)"
						 " SELECT $%d, $%d, d.priority, d.group_key, %s, d.body%s"
						 " FROM d)",
						 q->dead_letter_queue_id, moved_columns(false),
						 now_param, now_param, death, moved_values(false));
		return;
	}

	/* room: max_length less the length, plus what h dropped */
	if (q->dead_letter_drop_head)
		append_dead_letter_drop_head(sql, q, now_param);
	room = psprintf("(SELECT GREATEST(0::pg_catalog.int8, " INT64_FORMAT
					" OPERATOR(pg_catalog.-) pg_catalog.count(*)%s)"
					" FROM mq.q_%d)",
					q->dead_letter_max_length,
					q->dead_letter_drop_head ?
					" OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM h)" : "",
					q->dead_letter_queue_id);
	appendStringInfo(sql,
					 ", x AS (INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
					 " group_key, headers, body%s)"
					 " SELECT $%d, $%d, d.priority, d.group_key, %s, d.body%s"
					 " FROM (SELECT * FROM d ORDER BY d.msg_id LIMIT %s) d)",
					 q->dead_letter_queue_id, moved_columns(false), now_param,
					 now_param, death, moved_values(false), room);
	append_archive_cte(sql, "y", q->id,
					   psprintf("(SELECT * FROM d ORDER BY d.msg_id OFFSET %s) d", room),
					   dead_letter_headers(q->name, reason, now_param,
										   q->dead_letter_queue, "full"),
					   now_param);
}

/*
 * Serialise with the senders of a queue with max_length the moves into it,
 * for the rest of the transaction: an advisory lock of our own kind, so it
 * never meets a user's advisory lock.
 */
void
mq_queue_lock_senders(int32 queue_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, (uint32) queue_id,
						 MQ_LOCKTAG_MAX_LENGTH);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * The SQL expression saying why a row of d is dead: past the queue's
 * message_ttl or its own ttl (expires_at), else past max_receives
 */
static char *
dead_reason(const DeadParams *dp)
{
	return psprintf("CASE WHEN d.enqueued_at OPERATOR(pg_catalog.<=) $%d"
					" OR %s THEN 'expired' ELSE 'max_receives' END",
					dp->cutoff,
					legacy_layout ? "false" :
					psprintf("d.expires_at OPERATOR(pg_catalog.<=) $%d", dp->now));
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
		appendStringInfo(sql,
						 ", (m.read_ct OPERATOR(pg_catalog.>=) $4"
						 " OR m.enqueued_at OPERATOR(pg_catalog.<=) $5"
						 " OR %s) AS dead", expired_by_message(1));
	appendStringInfo(sql, " FROM mq.q_%d m WHERE m.vt OPERATOR(pg_catalog.<=) $1",
					 q->id);
	if (q->fifo)
		appendStringInfo(sql,
						 " AND (m.group_key IS NULL OR (NOT EXISTS"
						 " (SELECT 1 FROM mq.q_%d o"
						 " WHERE o.group_key OPERATOR(pg_catalog.=) m.group_key"
						 " AND o.msg_id OPERATOR(pg_catalog.<) m.msg_id)"
						 " AND NOT mq._group_has_older(m.tableoid, m.group_key, m.msg_id)))",
						 q->id);
	appendStringInfo(sql,
					 " ORDER BY " MQ_ORDER_SQL("m") " LIMIT $%d"
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

/* INSERT of one message (ON CONFLICT DO NOTHING with a dedup key) */
static void
build_send(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
		   Oid *argtypes)
{
	int			id = q->id;

	if (legacy_layout)
		appendStringInfo(sql,
						 "INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
						 " group_key, dedup_key, headers, body)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7)", id);
	else
		appendStringInfo(sql,
						 "INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
						 " group_key, dedup_key, headers, body, payload,"
						 " content_type, content_encoding, correlation_id,"
						 " reply_to, expires_at, sent_by)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
						 " $12, $13, $14)", id);
	if (kind == MQ_PLAN_SEND_DEDUP)
		appendStringInfoString(sql,
							   " ON CONFLICT (dedup_key)"
							   " WHERE dedup_key IS NOT NULL DO NOTHING");
	appendStringInfoString(sql, " RETURNING msg_id");
	*nargs = MQ_SEND_NARGS;
	argtypes[0] = argtypes[1] = TIMESTAMPTZOID;
	argtypes[2] = INT4OID;
	argtypes[3] = argtypes[4] = TEXTOID;
	argtypes[5] = argtypes[6] = JSONBOID;
	argtypes[7] = BYTEAOID;
	argtypes[8] = argtypes[9] = argtypes[10] = argtypes[11] = TEXTOID;
	argtypes[12] = TIMESTAMPTZOID;
	argtypes[13] = TEXTOID;
}

/* INSERT of a batch of messages without dedup keys */
static void
build_send_batch(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
				 Oid *argtypes)
{
	int			id = q->id;

	if (legacy_layout)
		appendStringInfo(sql,
						 "INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
						 " group_key, headers, body)"
						 " SELECT $1, $2, $3, u.g, u.h, u.b"
						 " FROM ROWS FROM (pg_catalog.unnest($4),"
						 " pg_catalog.unnest($5), pg_catalog.unnest($6))"
						 " AS u(g, h, b) RETURNING msg_id", id);
	else
	appendStringInfo(sql,
					 "INSERT INTO mq.q_%d (enqueued_at, vt, priority,"
					 " group_key, headers, body, payload, content_type,"
					 " content_encoding, correlation_id, reply_to,"
					 " expires_at, sent_by)"
					 " SELECT $1, $2, $3, u.g, u.h, u.b, u.p, u.t,"
					 " CASE WHEN u.p IS NOT NULL THEN $9 END, u.c, $10, $11, $12"
					 " FROM ROWS FROM (pg_catalog.unnest($4),"
					 " pg_catalog.unnest($5), pg_catalog.unnest($6),"
					 " pg_catalog.unnest($7), pg_catalog.unnest($8),"
					 " pg_catalog.unnest($13))"
					 " AS u(g, h, b, p, t, c) RETURNING msg_id", id);
	*nargs = MQ_SEND_BATCH_NARGS;
	argtypes[0] = argtypes[1] = TIMESTAMPTZOID;
	argtypes[2] = INT4OID;
	argtypes[3] = TEXTARRAYOID;
	argtypes[4] = argtypes[5] = JSONBARRAYOID;
	argtypes[6] = BYTEAARRAYOID;
	argtypes[7] = TEXTARRAYOID;
	argtypes[8] = argtypes[9] = TEXTOID;
	argtypes[10] = TIMESTAMPTZOID;
	argtypes[11] = TEXTOID;
	argtypes[12] = TEXTARRAYOID;
}

/* the message with a dedup key in the queue, or acked recently */
static void
build_find_key(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
			   Oid *argtypes)
{
	int			id = q->id;

	/* the message with this key in the queue, or acked recently */
	appendStringInfo(sql,
					 "SELECT msg_id FROM mq.q_%d"
					 " WHERE dedup_key OPERATOR(pg_catalog.=) $1"
					 " UNION ALL SELECT msg_id FROM mq.d_%d"
					 " WHERE dedup_key OPERATOR(pg_catalog.=) $1"
					 " AND removed_at OPERATOR(pg_catalog.>) $2 LIMIT 1",
					 id, id);
	*nargs = 2;
	argtypes[0] = TEXTOID;
	argtypes[1] = TIMESTAMPTZOID;
}

/* a dedup key acked within dedup_window */
static void
build_recent_key(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
				 Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql,
					 "SELECT msg_id FROM mq.d_%d"
					 " WHERE dedup_key OPERATOR(pg_catalog.=) $1"
					 " AND removed_at OPERATOR(pg_catalog.>) $2", id);
	*nargs = 2;
	argtypes[0] = TEXTOID;
	argtypes[1] = TIMESTAMPTZOID;
}

/* remember the dedup keys of removed messages */
static void
build_remember_keys(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
					Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql,
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
}

/*
 * a lease or a pop: the candidates in delivery order and, on a queue with
 * dead letters, the move of those past their limits
 */
static void
build_take(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
		   Oid *argtypes)
{
	int			id = q->id;
	bool		pop = (kind == MQ_PLAN_POP);
	DeadParams	dp = {1, 4, 5};

	/*
	 * $1 now, $2 new vt (unused by pop), $3 qty, $4 max, $5 cutoff.  Every
	 * queue may have dead letters: a message's own ttl (expires_at) needs
	 * no option of the queue.
	 */
	appendStringInfoString(sql, "WITH c AS (");
	append_candidates(sql, q, 3, true);
	appendStringInfoString(sql, ")");
	if (pop)
		appendStringInfo(sql,
						 ", l AS (DELETE FROM mq.q_%d q WHERE "
						 IDS_FROM("SELECT c.msg_id FROM c WHERE NOT c.dead")
						 " RETURNING q.*)", id);
	else
		appendStringInfo(sql,
						 ", l AS (UPDATE mq.q_%d q SET vt = $2,"
						 " read_ct = q.read_ct OPERATOR(pg_catalog.+) 1"
						 " WHERE "
						 IDS_FROM("SELECT c.msg_id FROM c WHERE NOT c.dead")
						 " RETURNING q.*)", id);
	appendStringInfo(sql,
					 ", d AS (DELETE FROM mq.q_%d q WHERE "
					 IDS_FROM("SELECT c.msg_id FROM c WHERE c.dead")
					 " RETURNING q.*)", id);
	append_dead_letter_ctes(sql, q, dead_reason(&dp), dp.now);
	appendStringInfo(sql,
					 " SELECT %s, NULL::pg_catalog.text FROM l"
					 " UNION ALL SELECT %s, %s FROM d",
					 message_columns("l", pop), message_columns("d", false),
					 dead_reason(&dp));
	*nargs = 5;
	argtypes[3] = INT4OID;
	argtypes[4] = TIMESTAMPTZOID;
	argtypes[0] = argtypes[1] = TIMESTAMPTZOID;
	argtypes[2] = INT8OID;
}

/* delete (ack) one message */
static void
build_delete(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
			 Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql,
					 "DELETE FROM mq.q_%d WHERE msg_id OPERATOR(pg_catalog.=) $1"
					 " RETURNING msg_id, dedup_key", id);
	*nargs = 1;
	argtypes[0] = INT8OID;
}

/* delete (ack) many messages */
static void
build_delete_many(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
				  Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql,
					 "DELETE FROM mq.q_%d"
					 " WHERE msg_id OPERATOR(pg_catalog.=) ANY ($1)"
					 " RETURNING msg_id, dedup_key", id);
	*nargs = 1;
	argtypes[0] = INT8ARRAYOID;
}

/* move many messages to the archive */
static void
build_archive_many(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
				   Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql,
					 "WITH d AS (DELETE FROM mq.q_%d"
					 " WHERE msg_id OPERATOR(pg_catalog.=) ANY ($1) RETURNING *)"
					 " INSERT INTO mq.a_%d (msg_id, read_ct, enqueued_at, vt,"
					 " priority, group_key, dedup_key, headers, body,"
					 " archived_at%s)"
					 " SELECT d.msg_id, d.read_ct, d.enqueued_at, d.vt,"
					 " d.priority, d.group_key, d.dedup_key, d.headers, d.body,"
					 " $2%s FROM d"
					 " RETURNING msg_id, dedup_key", id, id, moved_columns(true),
					 moved_values(true));
	*nargs = 2;
	argtypes[0] = INT8ARRAYOID;
	argtypes[1] = TIMESTAMPTZOID;
}

/* move a lease end */
static void
build_set_vt(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
			 Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql,
					 "UPDATE mq.q_%d SET vt = $2"
					 " WHERE msg_id OPERATOR(pg_catalog.=) $1", id);
	*nargs = 2;
	argtypes[0] = INT8OID;
	argtypes[1] = TIMESTAMPTZOID;
}

/* count the messages */
static void
build_count(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
			Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql, "SELECT pg_catalog.count(*) FROM mq.q_%d", id);
	*nargs = 0;
}

/* drop the oldest messages that are not leased (overflow => drop_head) */
static void
build_drop_head(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
				Oid *argtypes)
{
	int			id = q->id;

	/* the oldest messages that are not leased */
	appendStringInfo(sql,
					 "WITH c AS (SELECT m.msg_id FROM mq.q_%d m"
					 " WHERE m.read_ct OPERATOR(pg_catalog.=) 0"
					 " OR m.vt OPERATOR(pg_catalog.<=) $1"
					 " ORDER BY m.msg_id LIMIT $2 FOR UPDATE SKIP LOCKED),"
					 " d AS (DELETE FROM mq.q_%d q WHERE "
					 IDS_FROM("SELECT c.msg_id FROM c")
					 " RETURNING q.*)", id, id);
	append_dead_letter_ctes(sql, q, "'maxlen'", 1);
	appendStringInfoString(sql, " SELECT pg_catalog.count(*) FROM d");
	*nargs = 2;
	argtypes[0] = TIMESTAMPTZOID;
	argtypes[1] = INT8OID;
}

/* move what is past max_receives or message_ttl (mq.sweep, mq.maintain) */
static void
build_sweep(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
			Oid *argtypes)
{
	int			id = q->id;
	DeadParams	dp = {1, 2, 3};

	/*
	 * Past max_receives and visible, or past the TTL and not
	 * leased (never read, or lease over).
	 */
	appendStringInfo(sql,
					 "WITH c AS (SELECT m.msg_id FROM mq.q_%d m"
					 " WHERE (m.vt OPERATOR(pg_catalog.<=) $1"
					 " AND m.read_ct OPERATOR(pg_catalog.>=) $2)"
					 " OR ((m.enqueued_at OPERATOR(pg_catalog.<=) $3"
					 " OR %s)"
					 " AND (m.vt OPERATOR(pg_catalog.<=) $1"
					 " OR m.read_ct OPERATOR(pg_catalog.=) 0))"
					 " LIMIT $4 FOR UPDATE SKIP LOCKED),"
					 " d AS (DELETE FROM mq.q_%d q WHERE "
					 IDS_FROM("SELECT c.msg_id FROM c")
					 " RETURNING q.*)", id, expired_by_message(1), id);
	append_dead_letter_ctes(sql, q, dead_reason(&dp), dp.now);
	appendStringInfo(sql, " SELECT %s FROM d", dead_reason(&dp));
	*nargs = 4;
	argtypes[0] = TIMESTAMPTZOID;
	argtypes[1] = INT4OID;
	argtypes[2] = TIMESTAMPTZOID;
	argtypes[3] = INT8OID;
}

/* add to the counters of what left the queue other than by ack */
static void
build_stats(StringInfo sql, MqQueue *q, MqPlanKind kind, int *nargs,
			Oid *argtypes)
{
	int			id = q->id;

	appendStringInfo(sql,
					 "UPDATE mq._queue_stats SET"
					 " dead_lettered = dead_lettered OPERATOR(pg_catalog.+) $1,"
					 " expired = expired OPERATOR(pg_catalog.+) $2,"
					 " dropped = dropped OPERATOR(pg_catalog.+) $3"
					 " WHERE queue_id OPERATOR(pg_catalog.=) %d", id);
	*nargs = 3;
	argtypes[0] = argtypes[1] = argtypes[2] = INT8OID;
}

typedef void (*StatementBuilder) (StringInfo sql, MqQueue *q, MqPlanKind kind,
								  int *nargs, Oid *argtypes);

/* one builder per statement kind */
static const StatementBuilder builders[MQ_NUM_PLANS] = {
	[MQ_PLAN_SEND] = build_send,
	[MQ_PLAN_SEND_DEDUP] = build_send,
	[MQ_PLAN_SEND_BATCH] = build_send_batch,
	[MQ_PLAN_FIND_KEY] = build_find_key,
	[MQ_PLAN_RECENT_KEY] = build_recent_key,
	[MQ_PLAN_REMEMBER_KEYS] = build_remember_keys,
	[MQ_PLAN_LEASE] = build_take,
	[MQ_PLAN_POP] = build_take,
	[MQ_PLAN_DELETE] = build_delete,
	[MQ_PLAN_DELETE_MANY] = build_delete_many,
	[MQ_PLAN_ARCHIVE_MANY] = build_archive_many,
	[MQ_PLAN_SET_VT] = build_set_vt,
	[MQ_PLAN_COUNT] = build_count,
	[MQ_PLAN_DROP_HEAD] = build_drop_head,
	[MQ_PLAN_SWEEP] = build_sweep,
	[MQ_PLAN_STATS] = build_stats,
};

/*
 * Build the statement of the given kind for queue q, and its parameter
 * types.
 */
static char *
statement_sql(MqQueue *q, MqPlanKind kind, int *nargs, Oid *argtypes)
{
	StringInfoData sql;

	if (kind < 0 || kind >= MQ_NUM_PLANS || builders[kind] == NULL)
		elog(ERROR, "invalid statement kind");
	initStringInfo(&sql);
	legacy_layout = !mq_queue_has_properties(q);
	builders[kind] (&sql, q, kind, nargs, argtypes);
	return sql.data;
}

/*
 * Run statement kind of queue q, preparing and keeping its plan on first
 * use.  The caller is connected to SPI.  Checks the SPI result code.
 */
void
mq_queue_execute(MqQueue *q, MqPlanKind kind, Datum *values, const char *nulls,
				int expected)
{
	int			ret;

	if (mq_queue_state(q)->plans[kind] == NULL)
	{
		Oid			argtypes[MQ_SEND_NARGS];
		int			nargs = 0;
		char	   *sql = statement_sql(q, kind, &nargs, argtypes);
		/* every statement here has a good generic plan: never replan */
		mq_queue_state(q)->plans[kind] = mq_keep_plan(sql, nargs, argtypes);
	}

	/* moves into a bounded dead-letter queue wait for its senders */
	if ((kind == MQ_PLAN_SWEEP || kind == MQ_PLAN_DROP_HEAD ||
		 kind == MQ_PLAN_LEASE || kind == MQ_PLAN_POP) &&
		q->dead_letter_queue_id != 0 && q->dead_letter_allowed &&
		q->dead_letter_max_length > 0)
		mq_queue_lock_senders(q->dead_letter_queue_id);

	mq_queue_own_statement = true;
	PG_TRY();
	{
		ret = mq_execute_plan_as_owner(mq_queue_state(q)->plans[kind],
									   values, nulls, 0);
	}
	PG_FINALLY();
	{
		mq_queue_own_statement = false;
	}
	PG_END_TRY();
	if (ret != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/* The bigint in column col of result row row, or -1 when NULL. */
int64
mq_queue_result_int64(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? -1 : DatumGetInt64(d);
}
