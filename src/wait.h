/*-------------------------------------------------------------------------
 *
 * wait.h
 *	  Shared-memory waiters: blocked readers sleep on their latch until a
 *	  commit that sent to their queue wakes them; queued NOTIFYs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_WAIT_H
#define MQ_WAIT_H

#include "queue.h"

/* shared memory, from mq.c's hooks when preloaded */
extern void mq_wait_shmem_request(void);
extern void mq_wait_shmem_startup(void);


/* at commit of this transaction, wake q's readers (and queue its NOTIFY) */
extern void mq_wake_at_commit(MqQueue *q);

/* the same by queue id; notify: queue a NOTIFY too */
extern void mq_wake_queue_at_commit(int32 queue_id, bool notify);

/*
 * Wait for a message on q: lease with attempt() until it returns true or
 * the deadline passes.  Sleeps on the latch between attempts, without an
 * advertised xmin.  An attempt that sets *not_before (a rate limit) is not
 * followed by another one before that time, wakeups or not.
 */
typedef bool (*mq_attempt_fn) (MqQueue *q, void *arg, TimestampTz *not_before);
extern void mq_wait_for_messages(MqQueue *q, TimestampTz deadline,
								 mq_attempt_fn attempt, void *arg);

/*
 * The same for any key (queues: their id; streams: MQ_STREAM_WAIT_KEY):
 * attempt() until it returns true or the deadline passes.
 */
typedef bool (*mq_try_fn) (void *arg, TimestampTz *not_before);
extern void mq_wait_until(int32 key, TimestampTz deadline, mq_try_fn attempt,
						  void *arg);

/* wake the waiters of key now (for a commit that is already visible) */
extern void mq_wake_key_now(int32 key);

/* for the worker: take the NOTIFYs pending for this database */
extern List *mq_take_pending_notifies(Oid dbid);

#endif							/* MQ_WAIT_H */
