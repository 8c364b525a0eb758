/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Streams: partitioned, retained logs, with appends whose positions are
 *	  dense in commit order, replay, and consumer groups on top of them.
 *	  What other parts of mq use; the stream files share the rest in
 *	  stream_int.h, which lists them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_STREAM_H
#define MQ_STREAM_H

#include "args.h"
#include "message.h"
#include "quota.h"
#include "utils/jsonb.h"

/* shared memory, from mq.c's hooks when preloaded */
extern void mq_stream_shmem_request(void);
extern void mq_stream_shmem_startup(void);
extern void mq_consumer_group_shmem_request(void);
extern void mq_consumer_group_shmem_startup(void);

/* a new mq extension in this database: its stream and group ids start again */
extern void mq_stream_forget_database(Oid dbid);
extern void mq_consumer_group_forget_database(Oid dbid);

/* A stream as a call needs it */
typedef struct MqStream
{
	int32		id;
	int32		partitions;
	int32		segment;		/* the newest, where appends go */
	int32		first_segment;	/* the oldest kept (segments are contiguous) */
	Oid			owner;
	int32		min_replicas;	/* 'replicated': standbys an append needs; 0: 'local' */
	char		name[MQ_NAME_MAXLEN + 1];
} MqStream;

/* look a stream up for the caller: an error unless it holds privs (MQ_PRIV_*) */
extern void mq_stream_lookup(text *name, MqStream *s, int privs);

/* the same without the privilege check (for what any role may see) */
extern void mq_stream_find(text *name, MqStream *s);

/* append one record for a caller holding privs (0: none needed) */
extern void mq_stream_append_one(text *stream, const MqMessage *m, text *key, Jsonb *headers, int privs, int32 *partition, int64 *position);

/* for the worker: readable ends for standbys (mq._stream_end) */
extern bool mq_stream_ends_moved(void);
extern void mq_stream_publish_ends(void);

/* what each role holds of the streams' shared memory (palloc'd copies) */
extern int	mq_stream_role_counts(MqRoleCount **out);
extern int	mq_consumer_role_counts(MqRoleCount **out);
extern int	mq_group_partition_role_counts(MqRoleCount **out);

/* wait.c's key for a stream's waiters (queues have positive ids) */
#define MQ_STREAM_WAIT_KEY(stream_id) (-(stream_id))

#endif							/* MQ_STREAM_H */
