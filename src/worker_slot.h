/*-------------------------------------------------------------------------
 *
 * worker_slot.h
 *	  The workers' slots in shared memory and the wakeups commits give
 *	  them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_WORKER_SLOT_H
#define MQ_WORKER_SLOT_H

#include "datatype/timestamp.h"

/* what a commit wants of its database's worker (bits) */
#define MQ_WORK_ACTIVITY	0x01	/* a round: a deadline may be earlier */
#define MQ_WORK_NOTIFY		0x02	/* NOTIFYs are pending (wait.c) */
#define MQ_WORK_ENDS		0x04	/* a stream's readable end moved */

/* shared memory, from mq.c's hooks when preloaded */
extern void mq_worker_slots_shmem_request(void);
extern void mq_worker_slots_shmem_startup(void);
extern bool mq_worker_slots_available(void);

/* for the worker: its slot, its wakeups, what mq.workers shows */
extern void mq_worker_slot_claim(Oid dboid);
extern uint32 mq_worker_take_wanted(void);
extern uint32 mq_worker_peek_wanted(void);
extern void mq_worker_report_work(const char *work);
extern void mq_worker_report_sleep(TimestampTz wake_at);

/* the pids of the workers serving dboid (at most max) */
extern int	mq_worker_slot_pids(Oid dboid, pid_t *pids, int max);

/* wake this database's worker now (for a commit that is visible) */
extern void mq_worker_wake(uint32 why);

/* if this transaction commits having written, wake the worker for a round */
extern void mq_worker_wake_at_commit(void);

#endif							/* MQ_WORKER_SLOT_H */
