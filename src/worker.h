/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Background workers: a launcher, and a pool of workers that do the
 *	  databases' timed work.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_WORKER_H
#define MQ_WORKER_H

#include "nodes/nodes.h"

/* from _PG_init, when preloaded: the launcher */
extern void mq_register_launcher(void);

/* from the utility hook: workers leave a database that is to change */
extern void mq_worker_before_utility(Node *parsetree);

#endif							/* MQ_WORKER_H */
