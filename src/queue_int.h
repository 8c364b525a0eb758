/*-------------------------------------------------------------------------
 *
 * queue_int.h
 *	  Private to the queue files: the layout of a queue's tables, the
 *	  statements kept per queue, and what the files share.  From the bottom
 *	  up (each calls only those above it in this list):
 *
 *	queue_table.c		storage's state of a cached queue, the table and
 *						its indexes, when the access-method path may run
 *	queue_statement.c	the statements, one builder per kind, and running
 *						them
 *	queue_take.c		taking one row of a walk through the access methods:
 *						locks, FIFO group probes, what a taken row becomes
 *	queue_result.c		results out in delivery order, dedup keys
 *						remembered, counters of what left a queue
 *	queue_fair.c		the gate of group limits and the fair walk
 *	queue_insert.c, queue_lease.c, queue_ack.c, queue_sweep.c
 *						the operations (queue.h), each with its policy and
 *						its two paths: statements or access methods
 *
 * The design is in src/README.md ("Storage").
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUEUE_INT_H
#define MQ_QUEUE_INT_H

#include "access/genam.h"
#include "access/tableam.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

#include "queue.h"
#include "queue_hint.h"
#include "queue_order.h"
#include "spi.h"

/*
 * mq.q_<id>, the message table, as mq._create_storage() makes it; the
 * composite type mq.message (what a read returns) has the same columns.
 * mq.a_<id>, the archive, has them too (archived_at after body: the
 * columns from payload on came in 0.8.0, added at the end of both tables).
 */
#define Anum_mq_message_msg_id		1
#define Anum_mq_message_read_ct		2
#define Anum_mq_message_enqueued_at 3
#define Anum_mq_message_vt			4
#define Anum_mq_message_priority	5
#define Anum_mq_message_group_key	6
#define Anum_mq_message_dedup_key	7
#define Anum_mq_message_headers		8
#define Anum_mq_message_body		9
#define Anum_mq_message_payload		10
#define Anum_mq_message_content_type 11
#define Anum_mq_message_content_encoding 12
#define Anum_mq_message_correlation_id 13
#define Anum_mq_message_reply_to	14
#define Anum_mq_message_expires_at	15
#define Anum_mq_message_sent_by		16
#define Natts_mq_message			16
#define MQ_LEGACY_NATTS				9	/* 0.7.0's tables: msg_id .. body */

/*
 * Leases, pops and sweeps of a queue with dead letters return the message
 * columns and then why a row was moved (NULL: delivered).
 */
#define Anum_mq_dead_reason			(Natts_mq_message + 1)

/* a column's index in a TupleTableSlot's tts_values and tts_isnull */
#define MQ_COL(anum) ((anum) - 1)

/* how many messages one sweep statement moves */
#define MQ_SWEEP_BATCH 1000

/* the parameters of the send statements (queue_statement.c) */
#define MQ_SEND_NARGS 14
#define MQ_SEND_BATCH_NARGS 13

/* the statements storage prepares once per queue and keeps */
typedef enum MqPlanKind
{
	MQ_PLAN_SEND,
	MQ_PLAN_SEND_DEDUP,
	MQ_PLAN_SEND_BATCH,
	MQ_PLAN_FIND_KEY,
	MQ_PLAN_RECENT_KEY,
	MQ_PLAN_REMEMBER_KEYS,
	MQ_PLAN_LEASE,
	MQ_PLAN_POP,
	MQ_PLAN_DELETE,
	MQ_PLAN_DELETE_MANY,
	MQ_PLAN_ARCHIVE_MANY,
	MQ_PLAN_SET_VT,
	MQ_PLAN_COUNT,
	MQ_PLAN_DROP_HEAD,
	MQ_PLAN_SWEEP,
	MQ_PLAN_STATS,
	MQ_NUM_PLANS
} MqPlanKind;

/*
 * Storage's part of a cached queue (queue.h keeps it opaque): what it has
 * looked up about the tables, and the kept plans.  It lives in the queue
 * cache's memory and goes with the entry.
 */
struct MqStorage
{
	Oid			relid;			/* the message table, once looked up */
	Oid			seqid;			/* its msg_id sequence */
	Oid			order_index;	/* its delivery-order index */
	Oid			group_index;	/* its FIFO group index */
	Oid			fair_index;		/* a fair queue's (priority, group) index */
	Oid			inflight_index; /* group_concurrency's (group, vt) index */
	SPIPlanPtr	plans[MQ_NUM_PLANS];
};

/* dead letters: a queue with max_receives or message_ttl */
static inline bool
mq_queue_has_dead_letters(MqQueue *q)
{
	return q->max_receives > 0 || q->has_ttl;
}

/* the statement trigger on every message table (queue_table.c) */
#define MQ_TABLE_TRIGGER "mq_table_changed"

/*
 * What the rows of one walk (a direct lease or pop, queue_lease.c, or a fair
 * walk, queue_fair.c) share
 */
typedef struct DirectTake
{
	Relation	rel;
	CommandId	cid;
	Snapshot	snapshot;
	TupleTableSlot *newslot;	/* the leased version */
	EState	   *estate;			/* for index entries, made on first use */
	ResultRelInfo *rri;
	Relation	group_index;	/* FIFO queues only */
	TupleTableSlot *groupslot;
	Snapshot	probe_snapshot; /* for group probes: snapshot or newer */
	bool		probe_stale;	/* a take failed: probe with a new one */
	uint64		probe_gen;		/* how many probe snapshots there were */
	HTAB	   *blocked;		/* BlockedGroup: groups known to be blocked */
	MemoryContext blocked_cxt;	/* holds it and its keys */
} DirectTake;

/*
 * What a walk (queue_lease.c's, or queue_fair.c's fair walk) is asked to
 * take, and where what it takes goes
 */
typedef struct MqTake
{
	bool		pop;			/* delete the rows, do not lease them */
	TimestampTz now;
	TimestampTz vt;				/* the lease end */
	TimestampTz cutoff;			/* enqueued at or before it: expired */
	int64		qty;			/* at most this many */
	bool		skip_dead;		/* pass over rows past their limits */
	Tuplestorestate *out;		/* the rows taken, as mq.message */
	TupleDesc	outdesc;
	Datum	   *keys;			/* pop: dedup keys of the rows taken */
	Datum	   *ids;			/* and their ids */
	int			nkeys;
} MqTake;

/* the gate of a queue with group limits (queue_fair.c) */
typedef struct MqGate MqGate;

/* queue_table.c: storage's state, the table and its indexes */
extern MqStorage *mq_queue_state(MqQueue *q);
extern void mq_queue_lock_queue(MqQueue *q);
extern void mq_queue_inserted(MqQueue *q, int32 priority, int64 msg_id);
extern TimestampTz mq_queue_time_before(TimestampTz now, Interval *iv);
extern bool mq_queue_direct_ok(MqQueue *q);
extern bool mq_queue_foreign_triggers(Relation rel);
extern Relation mq_queue_open_table(MqQueue *q);
extern Relation mq_queue_open_table_ext(MqQueue *q, bool required);
extern bool mq_queue_has_properties(MqQueue *q);
extern Relation mq_queue_open_table_insert(MqQueue *q);
extern Oid	mq_queue_index(MqQueue *q, Relation rel, const char *suffix,
						   Oid *cached);
extern void mq_queue_missing_index(MqQueue *q, const char *suffix);
extern Datum mq_queue_detoast(Datum value, bool isnull);
extern bool mq_queue_own_statement;

/* queue_statement.c: the kept statements */
/* advisory lock key (field4) that serialises sends to a bounded queue */
#define MQ_LOCKTAG_MAX_LENGTH 0x6d71
extern void mq_queue_lock_senders(int32 queue_id);
extern void mq_queue_execute(MqQueue *q, MqPlanKind kind, Datum *values,
							 const char *nulls, int expected);
extern int64 mq_queue_result_int64(uint64 row, int col);

/* queue_take.c: taking rows of a walk through the access methods */
extern bool mq_queue_dead_for_good(Relation rel, IndexFetchTableData **fetch,
								   TupleTableSlot **slot, ItemPointer tid,
								   MqKey *key);
extern uint32 mq_message_group_hash(const void *key, Size keysize);
extern int	mq_message_group_match(const void *key1, const void *key2, Size keysize);
extern bool mq_queue_message_group_blocked(DirectTake *dt, Datum group_key,
									 int64 msg_id);
extern TM_Result mq_queue_take_row(DirectTake *dt, TupleTableSlot *slot,
								   bool pop, TimestampTz vt);
extern IndexScanDesc mq_queue_begin_range(DirectTake *dt, Relation index,
										  const MqHintRead *hint, int range);
extern void mq_queue_take_begin(DirectTake *dt, MqQueue *q, Relation rel,
								Oid groupid);
extern void mq_queue_take_end(DirectTake *dt);
extern bool mq_queue_is_dead_letter(MqQueue *q, TupleTableSlot *slot,
									TimestampTz now, TimestampTz cutoff);
extern void mq_queue_put_taken(TupleTableSlot *slot, bool pop,
							   TimestampTz vt, Tuplestorestate *out,
							   TupleDesc outdesc, Datum *keys, Datum *ids,
							   int *nkeys);

/* queue_result.c: results out, dedup keys remembered, counters */
extern void mq_queue_put_ids(Tuplestorestate *out, TupleDesc outdesc);
extern uint64 mq_queue_put_messages(Tuplestorestate *out, TupleDesc outdesc,
									int64 *dead_lettered, int64 *expired);
extern bool mq_queue_has_dedup_window(MqQueue *q);
extern void mq_queue_remember_keys(MqQueue *q, TimestampTz now, Datum *keys,
								   Datum *ids, int n);
extern void mq_queue_remember_result_keys(MqQueue *q, TimestampTz now,
										  int idcol, int keycol);
extern void mq_queue_count(MqQueue *q, int64 dead_lettered, int64 expired,
						   int64 dropped);

/* queue_fair.c: the gate of group limits and the fair walk */
extern MqGate *mq_gate_begin(MqQueue *q, Relation rel, bool pop,
							 TimestampTz now);
extern bool mq_gate_admit(MqGate *gate, DirectTake *dt, Datum group_key);
extern void mq_gate_taken(MqGate *gate, Datum group_key);
extern void mq_gate_untaken(MqGate *gate, Datum group_key);
extern void mq_gate_end(MqGate *gate);
extern uint64 mq_queue_take_fair(MqQueue *q, MqTake *t, bool *dead);

#endif							/* MQ_QUEUE_INT_H */
