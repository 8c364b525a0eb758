/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Streams: partitioned, retained logs (part one: appends and replay).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_STREAM_H
#define MQ_STREAM_H

/* shared memory, from mq.c's hooks when preloaded */
extern void mq_stream_shmem_request(void);
extern void mq_stream_shmem_startup(void);

#endif							/* MQ_STREAM_H */
