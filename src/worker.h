/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Background workers: a launcher, and one worker per database that has
 *	  the extension, doing the timed work.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_WORKER_H
#define MQ_WORKER_H

/* from _PG_init, when preloaded: the launcher, and the hooks workers need */
extern void mq_register_launcher(void);

/* shared memory, from mq.c's hooks when preloaded */
extern void mq_worker_shmem_request(void);
extern void mq_worker_shmem_startup(void);

#endif							/* MQ_WORKER_H */
