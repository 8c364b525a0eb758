/*-------------------------------------------------------------------------
 *
 * durability.h
 *	  Durability of queues and streams: 'replicated' sends commit only once
 *	  a synchronous standby has them (durability.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_DURABILITY_H
#define MQ_DURABILITY_H

/*
 * A send to (or append into) the replicated queue or stream kind "name",
 * which needs min_replicas streaming synchronous standbys: fails at once
 * (53000) when fewer stream, else makes this transaction's commit wait for
 * the standbys.  min_replicas 0 (a 'local' queue or stream) does nothing.
 */
extern void mq_durability_require(int32 min_replicas, const char *kind,
								  const char *name);

#endif							/* MQ_DURABILITY_H */
