/*-------------------------------------------------------------------------
 *
 * stream_int.h
 *	  Private to the stream files: what they share.  By layer, lowest
 *	  first; a file calls only files in layers below its own.
 *
 *	1	stream_catalog.c	finding a stream by name, the per-backend stream
 *							cache, privileges, partition numbers
 *		stream_segment.c	segment tables: kept plans, the kept segments,
 *							the read lock, first and last stored positions
 *	2	stream_position.c	shared memory: next positions, appends in
 *							flight, the transaction callbacks, readable ends
 *		stream_group.c		consumer groups in shared memory: look-up,
 *							partitions, polls undone, dropped groups
 *	3	stream_standby.c	the worker's readable ends for standbys
 *		stream_append.c		mq.append, mq.append_batch, the key's partition
 *		stream_read.c		mq.read_stream, the read a poll shares,
 *							mq.stream_end, mq.stream_start
 *		stream_rebalance.c	consumer heartbeats and the rebalance
 *		stream_commit.c		mq.commit, seek's reset, mq.partition_holder
 *	4	stream_poll.c		mq.poll
 *
 * The design is in src/README.md ("Streams").
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_STREAM_INT_H
#define MQ_STREAM_INT_H

#include "access/tupdesc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lwlock.h"
#include "storage/lock.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "stream.h"

/* stream_catalog.c */

/* an error unless the stream has the partition */
extern void mq_stream_check_partition(MqStream *s, int32 partition);

/* stream_segment.c */

/*
 * The columns of a segment table mq.s_<stream>_<segment> and of
 * mq.stream_record, in order.  Tables and a type made before 0.8.0 have
 * only the first Natts_mq_stream_record_v07 (no payload or properties).
 */
#define Natts_mq_stream_record				12
#define Natts_mq_stream_record_v07			6
#define Anum_mq_stream_record_partition		1
#define Anum_mq_stream_record_position		2
#define Anum_mq_stream_record_key			3
#define Anum_mq_stream_record_headers		4
#define Anum_mq_stream_record_body			5
#define Anum_mq_stream_record_appended_at	6
#define Anum_mq_stream_record_payload		7
#define Anum_mq_stream_record_content_type	8
#define Anum_mq_stream_record_content_encoding	9
#define Anum_mq_stream_record_correlation_id	10
#define Anum_mq_stream_record_reply_to		11
#define Anum_mq_stream_record_sent_by		12

/*
 * Statements kept per backend: the catalog look-up (stream_catalog.c), and
 * per segment table its insert and its read (named from ids, so a dropped
 * stream's plans are never used again; they stay until the backend ends).
 */
typedef enum StreamPlanKind
{
	STREAM_PLAN_INSERT,
	STREAM_PLAN_INSERT_ONE,
	STREAM_PLAN_READ,
	STREAM_NUM_PLANS
} StreamPlanKind;

typedef struct SegmentPlans
{
	int32		key[2];			/* stream id, segment */
	SPIPlanPtr	plans[STREAM_NUM_PLANS];
	int			natts;			/* the table's record columns the plans are for */
	Oid			relid;			/* the segment table, once looked up */
} SegmentPlans;

extern SegmentPlans *mq_stream_segment_entry(MqStream *s, int32 segment);
/*
 * The kept plan of a statement on a segment, for the table's columns as
 * they are now: *natts (if not NULL) is Natts_mq_stream_record, or
 * Natts_mq_stream_record_v07 for a table not yet updated to 0.8.0.
 */
extern SPIPlanPtr mq_stream_segment_plan(MqStream *s, int32 segment,
										 StreamPlanKind kind, int *natts);
extern void mq_stream_refresh_segments(MqStream *s);
extern bool mq_stream_lock_segment(MqStream *s, int32 segment);

/* one past the partition's greatest stored position (0 if none) */
extern int64 mq_stream_stored_next(MqStream *s, int32 partition);

/* the first position of a partition retention has kept (end if none) */
extern int64 mq_stream_earliest(MqStream *s, int32 partition, int64 end);

/* stream_position.c */

/* partitions one transaction may append to */
#define MQ_STREAM_INFLIGHT 16

typedef struct PartKey
{
	Oid			dbid;
	int32		stream_id;
	int32		partition;
} PartKey;

typedef struct PartState
{
	PartKey		key;
	int64		next;			/* the next position to hand out */
	int64		published;		/* the readable end last written for standbys */
	Oid			role;			/* charged to: the stream's owner */
} PartState;

/* an append in flight: its partition and first position (stream_id 0: free) */
typedef struct InFlight
{
	PartKey		key;
	int64		first;
} InFlight;

typedef struct StreamShared
{
	LWLock	   *lock;
	int			nprocs;
	InFlight	inflight[FLEXIBLE_ARRAY_MEMBER];	/* nprocs * MQ_STREAM_INFLIGHT */
} StreamShared;

/* NULL unless preloaded; the hash of PartState is under the same lock */
extern StreamShared *mq_stream_shared;
extern HTAB *mq_stream_parts;

extern bool mq_stream_shmem_available(void);

/* errors: not preloaded */
extern void mq_stream_require_shmem(void);

/*
 * Hand out n positions of a partition and list them as in flight for this
 * transaction; returns the first.
 */
extern int64 mq_stream_take_positions(MqStream *s, int32 partition, int n);

/*
 * The readable end of a partition (every position before it has ended:
 * committed or rolled back); take it before the snapshot that reads.
 */
extern int64 mq_stream_readable_end(MqStream *s, int32 partition);

/* stream_read.c */

/* errors: a snapshot per transaction */
extern void mq_stream_require_read_committed(const char *fn);

/* records [from, end) of a partition, at most max, into ts */
extern uint64 mq_stream_read(MqStream *s, int32 partition, int64 from,
							 int64 end, int64 max, Tuplestorestate *ts,
							 TupleDesc desc, int64 *last);

/* stream_group.c: consumer groups */

#define MQ_CONSUMER_MAXLEN 128

typedef struct MemberKey
{
	Oid			dbid;
	int32		group_id;
	char		consumer[MQ_CONSUMER_MAXLEN + 1];
} MemberKey;

typedef struct Member
{
	MemberKey	key;
	TimestampTz last_poll;
	int64		timeout;		/* session timeout, microseconds */
	Oid			role;			/* charged to: who registered it */
} Member;

typedef struct AssignKey
{
	Oid			dbid;
	int32		group_id;
	int32		partition;
} AssignKey;

typedef struct Assignment
{
	AssignKey	key;
	char		holder[MQ_CONSUMER_MAXLEN + 1]; /* "" : none */
	uint64		generation;		/* raised at each change of holder, seek */
	int64		epoch;			/* of the committed positions */
	int64		start;			/* committed position at takeover; -1 unknown */
	int64		fetch;			/* next position for the holder; -1 unknown */
	Oid			role;			/* charged to: whose poll brought it in */
} Assignment;

typedef struct ConsumerGroupShared
{
	LWLock	   *lock;
} ConsumerGroupShared;

/* NULL unless preloaded; both hashes are under its lock */
extern ConsumerGroupShared *mq_consumer_group_shared;
extern HTAB *mq_consumer_group_members;
extern HTAB *mq_consumer_group_assignments;

/* a consumer group as a call needs it */
typedef struct ConsumerGroup
{
	MqStream	s;
	int32		id;
	char		name[MQ_NAME_MAXLEN + 1];
} ConsumerGroup;

extern void mq_assignment_key(AssignKey *key, int32 group_id, int32 partition);

/* the (group, partition) advisory lock that fences commits */
extern void mq_fence_locktag(LOCKTAG *tag, int32 group_id, int32 partition);

extern void mq_consumer_group_register_callbacks(void);

/* list a poll's move of a fetch position, to undo if it rolls back */
extern void mq_consumer_group_note_poll(AssignKey *key, uint64 generation,
										int64 old_fetch, int64 new_fetch);

/* a group of a stream the caller may use */
extern void mq_consumer_group_lookup(text *stream, text *group,
									 ConsumerGroup *g);

/* the same without the privilege check */
extern void mq_consumer_group_find(text *stream, text *group,
								   ConsumerGroup *g);

/* shared memory knows every partition of the group */
extern void mq_consumer_group_ensure(ConsumerGroup *g);
extern void mq_consumer_group_too_many_partitions(void);

/*
 * A new member, charged to the current user (an error past the limits), a
 * member's later heartbeat, a member that leaves; with the lock held
 * exclusively
 */
extern Member *mq_consumer_member_join(MemberKey *key, TimestampTz now);
extern void mq_consumer_member_polled(MemberKey *key, TimestampTz now);
extern void mq_consumer_member_remove(Member *m);

/* poll and commit: on a primary, no NULL names; the consumer's name as a key */
extern void mq_consumer_arguments(FunctionCallInfo fcinfo, char *consumer);

/* stream_rebalance.c */

/*
 * A poll's heartbeat: note the consumer as live for timeout from now, then
 * rebalance the group.  Called with the lock held exclusively.
 */
extern void mq_consumer_group_heartbeat(ConsumerGroup *g, const char *consumer,
										int64 timeout, TimestampTz now);

#endif							/* MQ_STREAM_INT_H */
