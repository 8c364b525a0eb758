/*-------------------------------------------------------------------------
 *
 * queue_limit.h
 *	  Rate limits (token buckets in shared memory), the turn order of fair
 *	  queues, and the per-group locks of group_concurrency.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUEUE_LIMIT_H
#define MQ_QUEUE_LIMIT_H

#include "datatype/timestamp.h"

#include "quota.h"

/* how much of a group key the shared turn order keeps */
#define MQ_FAIR_KEY_MAX 256

/*
 * Where a fair queue's turn order stands: the group served last, at a
 * priority.  A key longer than MQ_FAIR_KEY_MAX is kept cut short.
 */
typedef struct MqFairCursor
{
	bool		valid;
	bool		null_group;		/* the group of messages without a key */
	int32		priority;
	int			len;
	char		key[MQ_FAIR_KEY_MAX];
} MqFairCursor;

/* a rate: limit tokens per interval_us, and as many in a burst */
typedef struct MqRate
{
	int32		limit;			/* 0: none */
	int64		interval_us;
} MqRate;

extern void mq_limits_shmem_request(void);
extern void mq_limits_shmem_startup(void);
extern bool mq_limits_available(void);

/*
 * Take up to want tokens of a queue's bucket (group_hash 0) or of a group's;
 * returns how many.  When that is fewer than want, *next_at (if not NULL)
 * says when the next token comes.  Taken tokens go back when the
 * transaction (or subtransaction) that took them aborts, and at once with
 * mq_limits_give_back().  A new bucket is charged to owner, the queue's
 * owner (queue_limit.c has what happens at the owner's share).
 */
extern int64 mq_limits_take(int32 queue_id, Oid owner, uint64 group_hash,
							const MqRate *rate, int64 want, TimestampTz now,
							TimestampTz *next_at);
extern void mq_limits_give_back(int32 queue_id, uint64 group_hash,
								const MqRate *rate, int64 n);
extern uint64 mq_limits_group_hash(const char *key, int len);

/* the buckets each role's queues hold (palloc'd), for monitoring */
extern int	mq_limits_role_counts(MqRoleCount **out);

/* counters for mq.metrics() */
extern void mq_limits_count_held_back(int32 queue_id, bool group);
extern void mq_limits_stats(int32 queue_id, uint64 *held_back,
							uint64 *group_held_back);

/* a new mq extension in this database: its queue ids start again */
extern void mq_limits_forget_database(Oid dbid);

/* the shared turn order of a fair queue (a backend's own without shmem) */
extern void mq_fair_cursor_get(int32 queue_id, MqFairCursor *cursor);
extern void mq_fair_cursor_set(int32 queue_id, const MqFairCursor *cursor);

/* a group's lock for counting and leasing under group_concurrency */
extern bool mq_message_group_lock_try(int32 queue_id, uint64 group_hash);
extern void mq_message_group_lock_release(int32 queue_id, uint64 group_hash);

#endif							/* MQ_QUEUE_LIMIT_H */
