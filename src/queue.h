/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  Queue names, the queue catalog and the per-backend queue cache.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUEUE_H
#define MQ_QUEUE_H

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/timestamp.h"

#include "privilege.h"

/* longest queue or exchange name */
#define MQ_NAME_MAXLEN 48

/* the statements storage.c prepares once per queue and keeps */
typedef enum MqPlanKind
{
	MQ_PLAN_SEND,
	MQ_PLAN_SEND_DEDUP,
	MQ_PLAN_SEND_BATCH,
	MQ_PLAN_FIND_KEY,
	MQ_PLAN_RECENT_KEY,
	MQ_PLAN_REMEMBER_KEYS,
	MQ_PLAN_LEASE,
	MQ_PLAN_POP,
	MQ_PLAN_DELETE,
	MQ_PLAN_DELETE_MANY,
	MQ_PLAN_ARCHIVE_MANY,
	MQ_PLAN_SET_VT,
	MQ_PLAN_COUNT,
	MQ_PLAN_DROP_HEAD,
	MQ_PLAN_SWEEP,
	MQ_PLAN_STATS,
	MQ_NUM_PLANS
} MqPlanKind;

/*
 * A queue as a backend sees it: the catalog row's options that the hot path
 * needs, and the kept plans for its tables.  Entries live until the catalog
 * changes (any INSERT/UPDATE/DELETE on mq._queue invalidates them all).
 */
typedef struct MqQueue
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	int32		id;
	Interval	visibility_timeout;
	int32		max_receives;	/* 0: no limit */
	int32		dead_letter_queue_id;	/* 0: dead letters go to the archive */
	bool		has_ttl;
	Interval	message_ttl;
	int64		max_length;		/* 0: no limit */
	bool		drop_head;		/* overflow => 'drop_head' */
	bool		fifo;
	Interval	dedup_window;
	bool		archive;		/* ack moves to the archive table */
	bool		notify;			/* NOTIFY "mq.<name>" after sends */
	MqAcl		acl;			/* owner and grants */
	Oid			relid;			/* storage.c: message table, once looked up */
	Oid			seqid;			/* storage.c: its msg_id sequence */
	Oid			order_index;	/* storage.c: its delivery-order index */
	Oid			group_index;	/* storage.c: its FIFO group index */
	SPIPlanPtr	plans[MQ_NUM_PLANS];
} MqQueue;

/*
 * Intervals (queue options, delays, leases) are at most 100 years: far
 * beyond any use, and far from where now plus or minus one leaves
 * PostgreSQL's timestamps.
 */
#define MQ_MAX_INTERVAL_TEXT "100 years"
extern bool mq_interval_too_long(Interval *iv);
extern void mq_check_interval(Interval *iv, const char *what);

extern void mq_check_name(const char *kind, text *name);
extern void mq_require_primary(const char *what);
extern void mq_require_primary_fn(FunctionCallInfo fcinfo);
extern void mq_name_key(const char *kind, text *name, char *key);
extern MqQueue *mq_queue_lookup(text *name);

#endif							/* MQ_QUEUE_H */
