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

/*
 * A lease, pop, ack, nack, set_vt or archive on a replicated queue, or a
 * consumer group's commit on a replicated stream: makes this transaction's
 * commit wait for the synchronous standbys as a send's does, so that a
 * failover undoes none of them, but counts no standbys (these calls go on
 * while the primary is alone).  min_replicas 0 does nothing.
 */
extern void mq_durability_wait(int32 min_replicas);

#endif							/* MQ_DURABILITY_H */
