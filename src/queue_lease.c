/*-------------------------------------------------------------------------
 *
 * queue_lease.c
 *	  Leases (mq.read) and pops: which path a take goes (the walk of the
 *	  delivery-order index in READ COMMITTED, the fair walk for fair queues
 *	  and queues with group limits, the statements otherwise) and the walk
 *	  itself, starting at the queue's scan hint.  See src/README.md
 *	  ("Storage", "Reads without SQL", "Scan hints").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guc.h"
#include "queue_hint.h"
#include "queue_int.h"
#include "wait.h"

/*
 * A walk of the delivery-order index (take_direct()): the
 * arguments, the take, and where the new scan hint may go.
 */
typedef struct DirectWalk
{
	MqQueue    *q;
	MqTake	   *t;				/* what to take, where it goes */
	DirectTake	dt;
	MqGate	   *gate;			/* gated: the group limits */
	TupleTableSlot *slot;
	uint64		delivered;
	/* the first entry that may be live: where the new hint goes */
	MqKey		first;
	bool		have_first;
	IndexFetchTableData *fetch;
	TupleTableSlot *dirtyslot;
} DirectWalk;

/* what a row of the walk came to */
typedef enum DirectRow
{
	DIRECT_PASSED,				/* not taken: on to the next row */
	DIRECT_TAKEN,				/* leased or popped */
	DIRECT_DEAD_LETTER			/* past its limits: the walk stops */
} DirectRow;

/*
 * The indexes of q's table for a walk: *indexid the delivery order,
 * *groupid the groups of a FIFO queue.  If one is missing, closes rel and
 * returns false (gated: fails).
 */
static bool
direct_indexes(MqQueue *q, Relation rel, bool gated, Oid *indexid,
			   Oid *groupid)
{
	*indexid = mq_queue_index(q, rel, "order", &mq_queue_state(q)->order_index);
	*groupid = q->fifo ? mq_queue_index(q, rel, "group", &mq_queue_state(q)->group_index) :
		InvalidOid;
	if (!OidIsValid(*indexid) || (q->fifo && !OidIsValid(*groupid)))
	{
		table_close(rel, NoLock);
		if (gated)
			mq_queue_missing_index(q, !OidIsValid(*indexid) ? "order" : "group");
		return false;
	}
	return true;
}

/* Take the row in w->slot if it is a candidate. */
static DirectRow
direct_row(DirectWalk *w)
{
	Datum	   *values = w->slot->tts_values;
	bool	   *isnull = w->slot->tts_isnull;
	bool		grouped;

	if (DatumGetTimestampTz(values[MQ_COL(Anum_mq_message_vt)]) > w->t->now)
		return DIRECT_PASSED;	/* leased or delayed */
	grouped = !isnull[MQ_COL(Anum_mq_message_group_key)];
	if (w->q->fifo && grouped &&
		mq_queue_message_group_blocked(&w->dt, values[MQ_COL(Anum_mq_message_group_key)], DatumGetInt64(values[MQ_COL(Anum_mq_message_msg_id)])))
		return DIRECT_PASSED;	/* not the head of its group */
	if (mq_queue_is_dead_letter(w->q, w->slot, w->t->now, w->t->cutoff))
	{
		if (w->t->skip_dead)
			return DIRECT_PASSED;
		/* a dead letter: the SQL statement (or a sweep) moves it */
		return DIRECT_DEAD_LETTER;
	}
	if (w->gate && grouped &&
		!mq_gate_admit(w->gate, &w->dt, values[MQ_COL(Anum_mq_message_group_key)]))
		return DIRECT_PASSED;	/* its group is at a limit */
	/* held, changed or removed by another transaction: skip it */
	if (mq_queue_take_row(&w->dt, w->slot, w->t->pop, w->t->vt) != TM_Ok)
	{
		if (w->gate && grouped)
			mq_gate_untaken(w->gate, values[MQ_COL(Anum_mq_message_group_key)]);
		w->dt.probe_stale = true;
		return DIRECT_PASSED;
	}
	if (w->gate && grouped)
		mq_gate_taken(w->gate, values[MQ_COL(Anum_mq_message_group_key)]);
	mq_queue_put_taken(w->slot, w->t->pop, w->t->vt, w->t->out, w->t->outdesc, w->t->keys,
					   w->t->ids, &w->t->nkeys);
	return DIRECT_TAKEN;
}

/*
 * Walk one range of the index (scan) until qty are taken or the range
 * ends; *more is set, and the walk stops, at a dead letter.
 */
static void
direct_walk_range(DirectWalk *w, IndexScanDesc scan, bool *more)
{
	ItemPointer tid;

	while (w->delivered < w->t->qty &&
		   (tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		Datum	   *values = w->slot->tts_values;
		DirectRow	row;

		CHECK_FOR_INTERRUPTS();
		if (!index_fetch_heap(scan, w->slot))
		{
			/* the new hint goes no further than a row that may come back */
			if (!w->have_first)
				w->have_first = !mq_queue_dead_for_good(w->dt.rel, &w->fetch,
														&w->dirtyslot, tid,
														&w->first);
			continue;
		}
		slot_getallattrs(w->slot);
		if (!w->have_first)
		{
			w->first.priority = DatumGetInt32(values[MQ_COL(Anum_mq_message_priority)]);
			w->first.msg_id = DatumGetInt64(values[MQ_COL(Anum_mq_message_msg_id)]);
			w->have_first = true;
		}
		row = direct_row(w);
		if (row == DIRECT_DEAD_LETTER)
		{
			*more = true;
			break;
		}
		if (row == DIRECT_TAKEN)
			w->delivered++;
	}
}

/*
 * Lease (or pop) up to t->qty messages of q without SQL, appending them to
 * t->out in delivery order.  Returns how many; *more is set when the SQL
 * statement must go on: the table cannot be used directly, or a candidate is
 * past its limits and must be dead-lettered.  Dedup keys of popped messages
 * go to t->keys and t->ids (room for t->qty), their count to t->nkeys.
 *
 * gated (a queue with group_concurrency or group_rate_limit): the table is
 * used whatever mq.direct_access says (or the call fails), and each
 * candidate of a group must pass the gate (queue_fair.c); *more then only
 * means a dead letter, which the caller sweeps before it walks again.  With
 * t->skip_dead, candidates past their limits are passed over instead.
 */
static uint64
take_direct(MqQueue *q, MqTake *t, bool *more, bool gated)
{
	DirectWalk	w = {0};
	Relation	rel;
	Relation	index;
	Oid			indexid;
	Oid			groupid;
	IndexScanDesc scan;
	MqHintRead	hint;
	bool		may_move_hint;
	int			range;

	*more = false;
	t->nkeys = 0;
	rel = gated ? mq_queue_open_table_ext(q, true) : mq_queue_open_table(q);
	if (rel == NULL)
	{
		*more = true;
		return 0;
	}
	if (!direct_indexes(q, rel, gated, &indexid, &groupid))
	{
		*more = true;
		return 0;
	}

	/*
	 * The hint first, then the snapshot: see queue_hint.c.  Rows that this
	 * transaction deleted look dead for good but come back if it rolls
	 * back; so a transaction that wrote anything before this call uses the
	 * hint but does not move it.
	 */
	mq_hint_read(q->id, t->now, &hint);
	may_move_hint = !TransactionIdIsValid(GetTopTransactionIdIfAny());

	w.q = q;
	w.t = t;
	mq_queue_take_begin(&w.dt, q, rel, groupid);
	if (gated)
		w.gate = mq_gate_begin(q, rel, t->pop, t->now);
	index = index_open(indexid, RowExclusiveLock);
	w.slot = table_slot_create(rel, NULL);

	for (range = 0;
		 w.delivered < t->qty && !*more &&
		 (scan = mq_queue_begin_range(&w.dt, index, &hint, range)) != NULL;
		 range++)
	{
		direct_walk_range(&w, scan, more);
		index_endscan(scan);
	}

	/*
	 * Every entry before first is dead for good.  (A scan that met no live
	 * entry keeps the old hint: rows that mq does not announce, such as
	 * ones inserted by hand, then still come after it if they are new.)
	 */
	if (w.have_first && may_move_hint)
		mq_hint_store(q->id, &hint, &w.first, t->now);

	if (w.fetch != NULL)
		table_index_fetch_end(w.fetch);
	if (w.dirtyslot != NULL)
		ExecDropSingleTupleTableSlot(w.dirtyslot);
	ExecDropSingleTupleTableSlot(w.slot);
	index_close(index, NoLock);
	if (w.gate)
		mq_gate_end(w.gate);
	mq_queue_take_end(&w.dt);
	return w.delivered;
}

/*
 * Lease (or pop) up to qty messages of a queue with fair or group limits:
 * always through a walk (queue_fair.c), which has no SQL form.  A walk
 * that meets a message past its limits stops; the sweep dead-letters it
 * (and every other one), and the walk goes on, passing over any that the
 * sweep could not take (another transaction holds them).
 */
static uint64
storage_take_limited(MqQueue *q, bool pop, TimestampTz now, TimestampTz vt,
					 int64 qty, TimestampTz cutoff, Tuplestorestate *out,
					 TupleDesc outdesc)
{
	MqTake		t = {pop, now, vt, cutoff, 0, false, out, outdesc};
	uint64		delivered = 0;

	t.keys = pop ? palloc(sizeof(Datum) * qty) : NULL;
	t.ids = pop ? palloc(sizeof(Datum) * qty) : NULL;
	for (;;)
	{
		bool		dead;
		int64		dead_lettered;
		int64		expired;

		t.qty = qty - delivered;
		if (q->fair)
			delivered += mq_queue_take_fair(q, &t, &dead);
		else
			delivered += take_direct(q, &t, &dead, true);
		if (t.nkeys > 0 && mq_queue_has_dedup_window(q))
		{
			mq_spi_connect();
			mq_queue_remember_keys(q, now, t.keys, t.ids, t.nkeys);
			SPI_finish();
		}
		if (!dead || delivered >= qty)
			break;
		mq_queue_sweep(q, now, &dead_lettered, &expired);
		t.skip_dead = true;
		CHECK_FOR_INTERRUPTS();
	}
	return delivered;
}

/*
 * Lease (or, for pop, take) up to qty visible messages.  Candidates past
 * max_receives, message_ttl or their own ttl are dead-lettered on the way; when that leaves
 * the answer short, look again.
 */
static uint64
storage_take_plain(MqQueue *q, MqPlanKind kind, TimestampTz now, TimestampTz vt,
				   int64 qty, TimestampTz cutoff, Tuplestorestate *out,
				   TupleDesc outdesc)
{
	Datum		values[5];
	uint64		delivered = 0;

	if (mq_queue_direct_ok(q))
	{
		bool		pop = (kind == MQ_PLAN_POP);
		MqTake		t = {pop, now, vt, cutoff, qty, false, out, outdesc};
		bool		more;

		t.keys = pop ? palloc(sizeof(Datum) * qty) : NULL;
		t.ids = pop ? palloc(sizeof(Datum) * qty) : NULL;
		delivered = take_direct(q, &t, &more, false);
		if (t.nkeys > 0 && mq_queue_has_dedup_window(q))
		{
			mq_spi_connect();
			mq_queue_remember_keys(q, now, t.keys, t.ids, t.nkeys);
			SPI_finish();
		}
		if (!more || delivered >= qty)
			return delivered;
	}

	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(vt);
	values[3] = Int32GetDatum(q->max_receives > 0 ? q->max_receives : PG_INT32_MAX);
	values[4] = TimestampTzGetDatum(cutoff);

	mq_spi_connect();
	for (;;)
	{
		uint64		found;
		uint64		got;
		int64		dead_lettered = 0;
		int64		expired = 0;

		values[2] = Int64GetDatum(qty - delivered);
		mq_queue_execute(q, kind, values, NULL, SPI_OK_SELECT);
		found = SPI_processed;
		got = mq_queue_put_messages(out, outdesc, &dead_lettered, &expired);
		if (kind == MQ_PLAN_POP)
			mq_queue_remember_result_keys(q, now, Anum_mq_message_msg_id, Anum_mq_message_dedup_key);
		mq_queue_count(q, dead_lettered, expired, 0);
		delivered += got;
		/* stop when full, or when nothing was dead-lettered this turn */
		if (delivered >= qty || found == got)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	return delivered;
}

/*
 * Take up to qty messages, as many as q's rate limit allows now (the rest
 * of the tokens go back).  *not_before (if not NULL) gets when the rate
 * limit has a token again if it held the read back, else 0.
 */
static uint64
storage_take(MqQueue *q, MqPlanKind kind, TimestampTz now, TimestampTz vt,
			 int64 qty, Tuplestorestate *out, TupleDesc outdesc,
			 TimestampTz *not_before)
{
	TimestampTz cutoff = q->has_ttl ? mq_queue_time_before(now, &q->message_ttl) :
		DT_NOBEGIN;
	int64		allowed = qty;
	uint64		delivered;

	if (not_before != NULL)
		*not_before = 0;
	mq_queue_lock_queue(q);
	if (q->rate.limit > 0)
	{
		TimestampTz next_at = 0;

		allowed = mq_limits_take(q->id, q->acl.owner, 0, &q->rate, qty, now, &next_at);
		if (allowed < qty)
		{
			mq_limits_count_held_back(q->id, false);
			if (allowed == 0 && not_before != NULL)
				*not_before = next_at;
		}
		if (allowed == 0)
			return 0;
	}
	if (q->fair || mq_queue_has_group_limits(q))
		delivered = storage_take_limited(q, kind == MQ_PLAN_POP, now, vt,
										 allowed, cutoff, out, outdesc);
	else
		delivered = storage_take_plain(q, kind, now, vt, allowed, cutoff, out,
									   outdesc);
	if (delivered < (uint64) allowed)
		mq_limits_give_back(q->id, 0, &q->rate, allowed - delivered);
	return delivered;
}

uint64
mq_queue_lease(MqQueue *q, TimestampTz now, TimestampTz vt, int64 qty,
			   Tuplestorestate *out, TupleDesc outdesc,
			   TimestampTz *not_before)
{
	return storage_take(q, MQ_PLAN_LEASE, now, vt, qty, out, outdesc,
						not_before);
}

uint64
mq_queue_pop(MqQueue *q, TimestampTz now, int64 qty,
			 Tuplestorestate *out, TupleDesc outdesc)
{
	return storage_take(q, MQ_PLAN_POP, now, now, qty, out, outdesc, NULL);
}
