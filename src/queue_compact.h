/*-------------------------------------------------------------------------
 *
 * queue_compact.h
 *	  Reclaiming a queue's message table by TRUNCATE: its live messages are
 *	  copied out and back under ACCESS EXCLUSIVE, so the dead row versions
 *	  that a held snapshot keeps from vacuum go with the old file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUEUE_COMPACT_H
#define MQ_QUEUE_COMPACT_H

#include "nodes/pg_list.h"

/*
 * The worker: ids of the queues over mq.compact_threshold, in the caller's
 * memory context; *overdue gets those at twice the threshold or more.
 */
extern List *mq_compact_candidates(List **overdue);

/*
 * The worker: compact one queue if its lock comes without waiting, or
 * within wait_ms; false when it did not (no lock, gone, too many messages).
 */
extern bool mq_compact_queue_id(int32 queue_id, int wait_ms);

#endif							/* MQ_QUEUE_COMPACT_H */
