/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  Queues as the rest of mq sees them: the cached catalog entry
 *	  (queue_catalog.c) and the operations on a queue's messages (the
 *	  queue_* files; what only they share is in queue_int.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUEUE_H
#define MQ_QUEUE_H

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "args.h"
#include "message.h"
#include "queue_limit.h"
#include "privilege.h"

/* storage's part of a cached queue, opaque here (queue_int.h) */
typedef struct MqStorage MqStorage;

/*
 * A queue as a backend sees it: the catalog row's options that the hot path
 * needs, and storage's part (the kept plans for its tables).  Entries live until the catalog
 * changes (any INSERT/UPDATE/DELETE on mq._queue invalidates them all).
 */
typedef struct MqQueue
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	int32		id;
	Interval	visibility_timeout;
	int32		max_receives;	/* 0: no limit */
	int32		dead_letter_queue_id;	/* 0: dead letters go to the archive */
	/* the dead-letter queue as it was when the entry was made */
	char		dead_letter_queue[MQ_NAME_MAXLEN + 1];
	bool		dead_letter_allowed;	/* may our owner send to it? */
	int64		dead_letter_max_length; /* its max_length; 0: no limit */
	bool		dead_letter_drop_head;	/* its overflow is 'drop_head' */
	bool		has_ttl;
	Interval	message_ttl;
	int64		max_length;		/* 0: no limit */
	bool		drop_head;		/* overflow => 'drop_head' */
	bool		fifo;
	Interval	dedup_window;
	bool		archive;		/* ack moves to the archive table */
	bool		notify;			/* NOTIFY "mq.<name>" after sends */
	bool		fair;			/* reads serve groups in turn */
	int32		group_concurrency;	/* most leased per group; 0: no limit */
	MqRate		rate;			/* rate_limit per rate_interval; limit 0: none */
	MqRate		group_rate;		/* group_rate_limit per rate_interval */
	int32		min_replicas;	/* 'replicated': standbys a send needs; 0: 'local' */
	MqAcl		acl;			/* owner and grants */
	MqStorage  *storage;		/* storage's, made on first use, or NULL */
	void		(*release_storage) (MqStorage *storage);	/* frees its plans */
} MqQueue;

extern MqQueue *mq_queue_lookup(text *name);
extern MemoryContext mq_queue_cache_context(void);

/* does a read of q go through the group gate (queue_limit.c, queue_fair.c)? */
static inline bool
mq_queue_has_group_limits(const MqQueue *q)
{
	return q->group_concurrency > 0 || q->group_rate.limit > 0;
}

/* the operations on a queue's messages (queue_insert.c, queue_lease.c,
 * queue_ack.c, queue_sweep.c, queue_table.c) */
/* Batch inputs for mq_queue_send_batch(), checked and deconstructed once */
typedef struct MqBatch
{
	int			n;
	MqBatchMessages msgs;		/* bodies or payloads, their properties */
	MqBatchColumn headers;
	MqBatchColumn dedup_keys;
	MqBatchColumn group_keys;
} MqBatch;

extern int64 mq_queue_send(MqQueue *q, TimestampTz now, TimestampTz vt,
						   int32 priority, text *group_key, text *dedup_key,
						   Jsonb *headers, const MqMessage *m);
extern void mq_queue_send_batch(MqQueue *q, TimestampTz now, TimestampTz vt,
								int32 priority, MqBatch *batch,
								Tuplestorestate *out, TupleDesc outdesc);
extern uint64 mq_queue_lease(MqQueue *q, TimestampTz now, TimestampTz vt,
							 int64 qty, Tuplestorestate *out,
							 TupleDesc outdesc, TimestampTz *not_before);
extern uint64 mq_queue_pop(MqQueue *q, TimestampTz now, int64 qty,
						   Tuplestorestate *out, TupleDesc outdesc);
extern bool mq_queue_ack(MqQueue *q, TimestampTz now, int64 msg_id,
						 bool archive);
extern void mq_queue_ack_many(MqQueue *q, TimestampTz now, ArrayType *ids,
							  bool archive, Tuplestorestate *out,
							  TupleDesc outdesc);
extern bool mq_queue_set_vt(MqQueue *q, int64 msg_id, TimestampTz vt);
extern void mq_queue_sweep(MqQueue *q, TimestampTz now,
						   int64 *dead_lettered, int64 *expired);
extern void mq_queue_announce(MqQueue *q);
extern int64 mq_queue_make_room(MqQueue *q, TimestampTz now, int64 n,
								int64 *length);

#endif							/* MQ_QUEUE_H */
