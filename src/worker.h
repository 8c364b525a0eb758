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

#endif							/* MQ_WORKER_H */
