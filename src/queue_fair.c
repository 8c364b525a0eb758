/*-------------------------------------------------------------------------
 *
 * queue_fair.c
 *	  Reads of queues with fairness and group limits: the gate that holds
 *	  back groups at their group_concurrency or group_rate_limit, and the
 *	  walk of a fair queue from group to group.  See src/README.md
 *	  ("Fairness and limits").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "queue_limit.h"
#include "queue_int.h"

/*
 * The gate.  A group under group_concurrency is counted once per walk,
 * holding the group's lock (queue_limit.c): the walk counts the group's leased
 * messages, leases at most what is left, and lets the lock go when it ends.
 * The count uses a dirty snapshot on the index (group_key, vt), so it sees
 * the leases of transactions still in progress (their new row versions) and
 * messages being acked (their old versions): a reader that takes the lock
 * after another one's walk counts that walk's leases whether or not it has
 * committed, and one that rolled back counts nothing.  Two readers never
 * count a group at the same time, so no group has more than its limit
 * leased.  A group whose lock another reader holds is passed over (it is
 * being served), never waited for.
 */
typedef struct GateGroup
{
	text	   *key;			/* hash key: the group key (a copy) */
	uint64		hash;
	bool		locked;			/* this walk holds the group's lock */
	bool		closed;			/* no more of this group in this walk */
	int64		room;			/* leases left under group_concurrency; -1: any */
} GateGroup;

struct MqGate
{
	MqQueue    *q;
	Relation	rel;
	Relation	inflight;		/* (group_key, vt), under group_concurrency */
	TupleTableSlot *slot;
	bool		pop;
	TimestampTz now;
	/* the groups met: a short array, or past MQ_GATE_LINEAR a hash table */
	GateGroup  *groups;
	int			ngroups;
	int			maxgroups;
	HTAB	   *hash;
	MemoryContext cxt;			/* the caller's, where all of it lives */
};

/* most groups looked up linearly; a read of a few messages meets few */
#define MQ_GATE_LINEAR 16

MqGate *
mq_gate_begin(MqQueue *q, Relation rel, bool pop, TimestampTz now)
{
	MemoryContext cxt = CurrentMemoryContext;
	MqGate	   *gate = palloc0(sizeof(MqGate));

	gate->q = q;
	gate->rel = rel;
	gate->pop = pop;
	gate->now = now;
	gate->cxt = cxt;
	if (q->group_concurrency > 0 && !pop)
	{
		Oid			indexid = mq_queue_index(q, rel, "inflight",
											 &mq_queue_state(q)->inflight_index);

		if (!OidIsValid(indexid))
			mq_queue_missing_index(q, "inflight");
		gate->inflight = index_open(indexid, AccessShareLock);
		gate->slot = table_slot_create(rel, NULL);
	}
	return gate;
}

/*
 * The gate's entry of a group key, or NULL; with create, a new entry (its
 * key a copy, the rest zero) when there is none.
 */
static GateGroup *
gate_find(MqGate *gate, text *key, bool create)
{
	GateGroup  *g;
	bool		found;
	int			i;

	if (gate->hash == NULL)
	{
		for (i = 0; i < gate->ngroups; i++)
			if (mq_message_group_match(&gate->groups[i].key, &key, sizeof(text *)) == 0)
				return &gate->groups[i];
		if (!create)
			return NULL;
		if (gate->ngroups < MQ_GATE_LINEAR)
		{
			if (gate->ngroups == gate->maxgroups)
			{
				gate->maxgroups = MQ_GATE_LINEAR;
				gate->groups = MemoryContextAlloc(gate->cxt,
												  sizeof(GateGroup) * MQ_GATE_LINEAR);
			}
			g = &gate->groups[gate->ngroups++];
			memset(g, 0, sizeof(GateGroup));
			g->key = MemoryContextAlloc(gate->cxt, VARSIZE_ANY(key));
			memcpy(g->key, key, VARSIZE_ANY(key));
			return g;
		}
		else
		{
			/* many groups: move them to a hash table */
			HASHCTL		ctl;

			ctl.keysize = sizeof(text *);
			ctl.entrysize = sizeof(GateGroup);
			ctl.hash = mq_message_group_hash;
			ctl.match = mq_message_group_match;
			ctl.hcxt = gate->cxt;
			gate->hash = hash_create("mq gate groups", 256, &ctl,
									 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
									 HASH_CONTEXT);
			for (i = 0; i < gate->ngroups; i++)
			{
				g = hash_search(gate->hash, &gate->groups[i].key, HASH_ENTER, &found);
				*g = gate->groups[i];
			}
		}
	}
	g = hash_search(gate->hash, &key, create ? HASH_ENTER : HASH_FIND, &found);
	if (g != NULL && !found)
	{
		memset((char *) g + sizeof(text *), 0, sizeof(GateGroup) - sizeof(text *));
		g->key = MemoryContextAlloc(gate->cxt, VARSIZE_ANY(key));
		memcpy(g->key, key, VARSIZE_ANY(key));
	}
	return g;
}

/*
 * How many messages of the group are leased now, counting up to limit:
 * rows with vt after now that have been received, as a dirty snapshot sees
 * them (leases and acks in progress count).
 */
static int64
gate_in_flight(MqGate *gate, Datum group_key, int64 limit)
{
	ScanKeyData scankeys[2];
	SnapshotData dirty;
	IndexScanDesc scan;
	int64		n = 0;

	InitDirtySnapshot(dirty);
	ScanKeyEntryInitialize(&scankeys[0], 0, 1, BTEqualStrategyNumber,
						   InvalidOid, gate->inflight->rd_indcollation[0],
						   F_TEXTEQ, group_key);
	ScanKeyEntryInitialize(&scankeys[1], 0, 2, BTGreaterStrategyNumber,
						   InvalidOid, InvalidOid, F_TIMESTAMPTZ_GT,
						   TimestampTzGetDatum(gate->now));
	scan = mq_index_beginscan(gate->rel, gate->inflight, &dirty, 2);
	index_rescan(scan, scankeys, 2, NULL, 0);
	while (n < limit && index_getnext_slot(scan, ForwardScanDirection, gate->slot))
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (DatumGetInt32(slot_getattr(gate->slot, Anum_mq_message_read_ct, &isnull)) > 0)
			n++;
	}
	index_endscan(scan);
	return n;
}

/*
 * May the walk take a message of this group?  Takes the group's token under
 * group_rate_limit (given back by mq_gate_untaken() if the take fails).
 */
bool
mq_gate_admit(MqGate *gate, DirectTake *dt, Datum group_key)
{
	MqQueue    *q = gate->q;
	text	   *key = DatumGetTextPP(group_key);
	GateGroup  *g;

	g = gate_find(gate, key, true);
	if (g->hash == 0)
	{
		/* new (a group hash is never 0) */
		g->hash = mq_limits_group_hash(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
		g->room = -1;
		if (gate->inflight != NULL)
		{
			if (!mq_message_group_lock_try(q->id, g->hash))
				g->closed = true;	/* another reader is serving it */
			else
			{
				g->locked = true;
				g->room = q->group_concurrency -
					gate_in_flight(gate, group_key, q->group_concurrency);
				if (g->room <= 0)
					g->closed = true;
			}
		}
	}
	if (g->closed)
		return false;
	if (q->group_rate.limit > 0)
	{
		if (mq_limits_take(q->id, q->acl.owner, g->hash, &q->group_rate, 1, gate->now,
						   NULL) == 0)
		{
			g->closed = true;
			mq_limits_count_held_back(q->id, true);
			return false;
		}
	}
	return true;
}

static GateGroup *
gate_group(MqGate *gate, Datum group_key)
{
	return gate_find(gate, DatumGetTextPP(group_key), false);
}

/* a message of the group was taken: one lease less is left */
void
mq_gate_taken(MqGate *gate, Datum group_key)
{
	GateGroup  *g = gate_group(gate, group_key);

	if (g != NULL && g->room > 0 && --g->room == 0)
		g->closed = true;
}

/* the admitted message could not be taken: its token goes back */
void
mq_gate_untaken(MqGate *gate, Datum group_key)
{
	if (gate->q->group_rate.limit > 0 && gate_group(gate, group_key) != NULL)
		mq_limits_give_back(gate->q->id, gate_group(gate, group_key)->hash,
							&gate->q->group_rate, 1);
}

/*
 * End of the walk: the group locks go (the leases are in the table now, for
 * the next reader's count).  *next_at gets when a group held back by its
 * rate limit gets a token (0 if none was).
 */
void
mq_gate_end(MqGate *gate)
{
	HASH_SEQ_STATUS status;
	GateGroup  *g;
	int			i;

	if (gate->hash != NULL)
	{
		hash_seq_init(&status, gate->hash);
		while ((g = hash_seq_search(&status)) != NULL)
			if (g->locked)
				mq_message_group_lock_release(gate->q->id, g->hash);
		hash_destroy(gate->hash);
	}
	else
		for (i = 0; i < gate->ngroups; i++)
			if (gate->groups[i].locked)
				mq_message_group_lock_release(gate->q->id, gate->groups[i].hash);
	if (gate->inflight != NULL)
	{
		ExecDropSingleTupleTableSlot(gate->slot);
		index_close(gate->inflight, AccessShareLock);
	}
	/* the keys go with the caller's memory */
	if (gate->groups != NULL)
		pfree(gate->groups);
	pfree(gate);
}

/*
 * The fair walk.  The index q_<id>_fair is (priority DESC, group_key,
 * msg_id): at each priority, from the highest down, the groups in key order
 * and then the group of messages without a key form a ring.  A read goes
 * round it from the group after the one served last (the queue's cursor,
 * shared by all readers, queue_limit.c) and takes one message per group per
 * turn: the group's first visible message that passes the gate.  A group
 * with nothing to take, at a limit, or whose message another reader holds,
 * is passed over; a turn round the ring that takes nothing ends the
 * priority, and the read goes on at the next lower one -- unless other
 * readers held rows in that turn: then one more turn takes the rows after
 * theirs, so that readers of a queue with few groups do not wait for each
 * other.  Each group visited
 * costs one descent of the index, so a group's backlog does not make the
 * others wait, nor does it slow the walk.
 */

/*
 * A place in the ring of one priority: the start, after keyed group key,
 * after the last keyed group (the group without a key comes next), or
 * after the group without a key (the ring begins again).
 */
typedef enum FairPlace
{
	FAIR_START,
	FAIR_AFTER_KEY,
	FAIR_BEFORE_NULL,
	FAIR_AFTER_NULL
} FairPlace;

/* a group of the ring: a key, or (key NULL) the group without a key */
typedef struct FairGroup
{
	text	   *key;			/* a copy */
} FairGroup;

static bool
fair_group_equal(const FairGroup *a, const FairGroup *b)
{
	if (a->key == NULL || b->key == NULL)
		return a->key == NULL && b->key == NULL;
	return VARSIZE_ANY_EXHDR(a->key) == VARSIZE_ANY_EXHDR(b->key) &&
		memcmp(VARDATA_ANY(a->key), VARDATA_ANY(b->key), VARSIZE_ANY_EXHDR(a->key)) == 0;
}

/* is a slot's group key (isnull: none) that of group g? */
static bool
fair_in_group(const FairGroup *g, Datum value, bool isnull)
{
	text	   *t;

	if (isnull || g->key == NULL)
		return isnull && g->key == NULL;
	t = DatumGetTextPP(value);
	return VARSIZE_ANY_EXHDR(t) == VARSIZE_ANY_EXHDR(g->key) &&
		memcmp(VARDATA_ANY(t), VARDATA_ANY(g->key), VARSIZE_ANY_EXHDR(t)) == 0;
}

/*
 * Scan priority p of the fair index: the keyed groups after key (all of
 * them if key is NULL), or with null_group the group without a key.
 */
static IndexScanDesc
fair_scan(DirectTake *dt, Relation index, int32 p, text *key, bool null_group)
{
	ScanKeyData scankeys[2];
	IndexScanDesc scan;

	ScanKeyInit(&scankeys[0], 1, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(p));
	if (null_group)
		ScanKeyEntryInitialize(&scankeys[1], SK_ISNULL | SK_SEARCHNULL, 2,
							   InvalidStrategy, InvalidOid, InvalidOid,
							   InvalidOid, (Datum) 0);
	else if (key == NULL)
		ScanKeyEntryInitialize(&scankeys[1], SK_ISNULL | SK_SEARCHNOTNULL, 2,
							   InvalidStrategy, InvalidOid, InvalidOid,
							   InvalidOid, (Datum) 0);
	else
		ScanKeyEntryInitialize(&scankeys[1], 0, 2, BTGreaterStrategyNumber,
							   InvalidOid, index->rd_indcollation[1],
							   F_TEXT_GT, PointerGetDatum(key));
	scan = mq_index_beginscan(dt->rel, index, dt->snapshot, 2);
	index_rescan(scan, scankeys, 2, NULL, 0);
	return scan;
}

/* the highest priority below *below (any, if !have_below) with a visible row */
static bool
fair_next_level(DirectTake *dt, Relation index, TupleTableSlot *slot,
				bool have_below, int32 below, int32 *p)
{
	ScanKeyData scankey;
	IndexScanDesc scan;
	bool		found;
	bool		isnull;

	ScanKeyInit(&scankey, 1, BTLessStrategyNumber, F_INT4LT, Int32GetDatum(below));
	scan = mq_index_beginscan(dt->rel, index, dt->snapshot, have_below ? 1 : 0);
	index_rescan(scan, have_below ? &scankey : NULL, have_below ? 1 : 0, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		*p = DatumGetInt32(slot_getattr(slot, Anum_mq_message_priority, &isnull));
	index_endscan(scan);
	return found;
}

static void
fair_cursor_store(MqQueue *q, int32 p, const FairGroup *g)
{
	MqFairCursor c;

	c.valid = true;
	c.priority = p;
	c.null_group = g->key == NULL;
	c.len = 0;
	if (g->key != NULL)
	{
		c.len = Min(VARSIZE_ANY_EXHDR(g->key), MQ_FAIR_KEY_MAX);
		memcpy(c.key, VARDATA_ANY(g->key), c.len);
	}
	mq_fair_cursor_set(q->id, &c);
}

/*
 * A fair walk (mq_queue_take_fair()): the arguments, the take, and the
 * state of the turn at the priority being walked.
 */
typedef struct FairWalk
{
	MqQueue    *q;
	MqTake	   *t;				/* what to take, where it goes */
	DirectTake	dt;
	MqGate	   *gate;			/* with group limits */
	Relation	index;			/* q_<id>_fair */
	TupleTableSlot *slot;
	bool	   *dead;
	uint64		delivered;
	MemoryContext walk_cxt;		/* the group keys of a priority */
	/* the turn at this priority */
	FairGroup	first;			/* the group a turn began with */
	bool		have_first;
	uint64		turn_took;
	uint64		turn_held;		/* rows other readers held this turn */
	bool		greedy;			/* past rows other readers hold */
	bool		level_done;
	bool		wrapped;		/* went round from the end to the start */
	/* the group being visited */
	FairGroup	group;
	bool		in_group;
} FairWalk;

/* what the walk does after a row */
typedef enum FairStep
{
	FAIR_NEXT_ROW,				/* on to the next row */
	FAIR_NEXT_GROUP,			/* done with the group: to the next */
	FAIR_END_LEVEL,				/* a turn took nothing: the priority is done */
	FAIR_STOP					/* a dead letter: the walk stops */
} FairStep;

/*
 * A row of another group than the last one's: it begins.  Returns false
 * when it is the group the turn began with and the priority is done.
 */
static bool
fair_group_begins(FairWalk *w, Datum gkey, bool grouped)
{
	MemoryContext old_cxt;

	if (grouped)
	{
		old_cxt = MemoryContextSwitchTo(w->walk_cxt);
		w->group.key = DatumGetTextPCopy(gkey);
		MemoryContextSwitchTo(old_cxt);
	}
	else
		w->group.key = NULL;
	w->in_group = true;
	if (!w->have_first)
	{
		w->first = w->group;
		w->have_first = true;
	}
	else if (fair_group_equal(&w->group, &w->first))
	{
		/*
		 * A whole turn took nothing: the priority is done, unless other
		 * readers held what there was; then go round once more taking the
		 * rows after theirs.
		 */
		if (w->turn_took == 0 && (w->greedy || w->turn_held == 0))
			return false;
		if (w->turn_took == 0)
			w->greedy = true;
		w->turn_took = 0;
		w->turn_held = 0;
	}
	return true;
}

/* The row in w->slot, at priority p: take it if it is a candidate. */
static FairStep
fair_row(FairWalk *w, int32 p)
{
	TupleTableSlot *slot = w->slot;
	Datum	   *values;
	bool	   *isnull;
	bool		grouped;
	Datum		gkey;
	TM_Result	result;

	slot_getallattrs(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	grouped = !isnull[MQ_COL(Anum_mq_message_group_key)];
	gkey = values[MQ_COL(Anum_mq_message_group_key)];
	if (!w->in_group || !fair_in_group(&w->group, gkey, !grouped))
	{
		/* a group begins; coming back to a turn's first ends it */
		if (!fair_group_begins(w, gkey, grouped))
			return FAIR_END_LEVEL;
	}
	if (DatumGetTimestampTz(values[MQ_COL(Anum_mq_message_vt)]) > w->t->now)
		return FAIR_NEXT_ROW;	/* leased or delayed: the group's next one */
	if (w->q->fifo && grouped &&
		mq_queue_message_group_blocked(&w->dt, gkey,
								 DatumGetInt64(values[MQ_COL(Anum_mq_message_msg_id)])))
		return FAIR_NEXT_GROUP; /* not the head of its group */
	if (mq_queue_is_dead_letter(w->q, slot, w->t->now, w->t->cutoff))
	{
		if (w->t->skip_dead)
			return FAIR_NEXT_ROW;
		return FAIR_STOP;		/* the caller sweeps and walks again */
	}
	if (w->gate && grouped && !mq_gate_admit(w->gate, &w->dt, gkey))
		return FAIR_NEXT_GROUP; /* at a limit */
	result = mq_queue_take_row(&w->dt, slot, w->t->pop, w->t->vt);
	if (result == TM_SelfModified)
	{
		/* taken by this walk in an earlier turn */
		if (w->gate && grouped)
			mq_gate_untaken(w->gate, gkey);
		return FAIR_NEXT_ROW;
	}
	if (result != TM_Ok)
	{
		/*
		 * Another reader holds it: it is serving this group, so serve the
		 * next one (or, greedy, take the next row).
		 */
		if (w->gate && grouped)
			mq_gate_untaken(w->gate, gkey);
		w->dt.probe_stale = true;
		w->turn_held++;
		return w->greedy ? FAIR_NEXT_ROW : FAIR_NEXT_GROUP;
	}
	if (w->gate && grouped)
		mq_gate_taken(w->gate, gkey);
	mq_queue_put_taken(slot, w->t->pop, w->t->vt, w->t->out, w->t->outdesc, w->t->keys,
					   w->t->ids, &w->t->nkeys);
	fair_cursor_store(w->q, p, &w->group);
	w->delivered++;
	w->turn_took++;
	return FAIR_NEXT_GROUP;
}

/*
 * Visit a place of the ring at priority p (see fair_scan() for after and
 * null_group): the rows of its groups until one is done with.  Returns
 * whether the walk is done with a group (w->group) and goes on after it.
 */
static bool
fair_visit(FairWalk *w, int32 p, text *after, bool null_group)
{
	IndexScanDesc scan;
	bool		jump = false;	/* done with the group: to the next */

	w->group.key = NULL;
	w->in_group = false;
	scan = fair_scan(&w->dt, w->index, p, after, null_group);
	while (!jump && index_getnext_slot(scan, ForwardScanDirection, w->slot))
	{
		FairStep	step;

		CHECK_FOR_INTERRUPTS();
		step = fair_row(w, p);
		if (step == FAIR_NEXT_GROUP)
			jump = true;
		else if (step == FAIR_END_LEVEL)
		{
			w->level_done = true;
			break;
		}
		else if (step == FAIR_STOP)
		{
			*w->dead = true;
			break;
		}
	}
	index_endscan(scan);
	return jump;
}

/* Walk priority p round its ring, from after the cursor if it is there. */
static void
fair_walk_level(FairWalk *w, int32 p, const MqFairCursor *cursor)
{
	FairPlace	place = FAIR_START;
	text	   *after = NULL;	/* with FAIR_AFTER_KEY */

	w->first.key = NULL;
	w->have_first = false;
	w->turn_took = 0;
	w->level_done = false;
	w->greedy = false;
	w->wrapped = false;
	w->turn_held = 0;
	MemoryContextReset(w->walk_cxt);
	/* start after the group served last, if it was at this priority */
	if (cursor->valid && cursor->priority == p)
	{
		if (cursor->null_group)
			place = FAIR_AFTER_NULL;
		else
		{
			place = FAIR_AFTER_KEY;
			after = MemoryContextAlloc(w->walk_cxt, VARHDRSZ + cursor->len);
			SET_VARSIZE(after, VARHDRSZ + cursor->len);
			memcpy(VARDATA(after), cursor->key, cursor->len);
		}
	}

	while (w->delivered < w->t->qty && !*w->dead && !w->level_done)
	{
		bool		jump;

		if (place == FAIR_AFTER_NULL)
		{
			/* round the ring; twice round without a group ends the level */
			if (!w->have_first && w->wrapped)
				break;
			w->wrapped = true;
			place = FAIR_START;
			after = NULL;
		}
		jump = fair_visit(w, p, place == FAIR_AFTER_KEY ? after : NULL,
						  place == FAIR_BEFORE_NULL);

		/* where the next visit starts */
		if (jump && w->group.key != NULL)
		{
			place = FAIR_AFTER_KEY;
			after = w->group.key;
		}
		else if (jump || place == FAIR_BEFORE_NULL)
			place = FAIR_AFTER_NULL;
		else
			place = FAIR_BEFORE_NULL;	/* the keyed groups are done */
	}
}

/*
 * Lease (or pop) up to t->qty messages of fair queue q in turn order, as
 * t says (queue_int.h).  *dead: the walk met a message past its limits and
 * stopped (unless t->skip_dead).  The walk is used whatever the isolation
 * level and mq.direct_access (it has no SQL form).
 */
uint64
mq_queue_take_fair(MqQueue *q, MqTake *t, bool *dead)
{
	FairWalk	w = {0};
	Relation	rel = mq_queue_open_table_ext(q, true);
	Oid			indexid;
	Oid			groupid = InvalidOid;
	MqFairCursor cursor;
	bool		have_level = false;
	int32		p = 0;

	t->nkeys = 0;
	*dead = false;
	indexid = mq_queue_index(q, rel, "fair", &mq_queue_state(q)->fair_index);
	if (q->fifo)
		groupid = mq_queue_index(q, rel, "group", &mq_queue_state(q)->group_index);
	if (!OidIsValid(indexid) || (q->fifo && !OidIsValid(groupid)))
	{
		table_close(rel, NoLock);
		mq_queue_missing_index(q, !OidIsValid(indexid) ? "fair" : "group");
	}
	w.q = q;
	w.t = t;
	w.dead = dead;
	mq_queue_take_begin(&w.dt, q, rel, groupid);
	if (mq_queue_has_group_limits(q))
		w.gate = mq_gate_begin(q, rel, t->pop, t->now);
	w.index = index_open(indexid, RowExclusiveLock);
	w.slot = table_slot_create(rel, NULL);
	w.walk_cxt = AllocSetContextCreate(CurrentMemoryContext, "mq fair walk",
									   ALLOCSET_SMALL_SIZES);
	mq_fair_cursor_get(q->id, &cursor);

	/* priority by priority, from the highest */
	while (w.delivered < t->qty && !*dead &&
		   fair_next_level(&w.dt, w.index, w.slot, have_level, p, &p))
	{
		have_level = true;
		fair_walk_level(&w, p, &cursor);
	}

	MemoryContextDelete(w.walk_cxt);
	ExecDropSingleTupleTableSlot(w.slot);
	index_close(w.index, NoLock);
	if (w.gate)
		mq_gate_end(w.gate);
	mq_queue_take_end(&w.dt);
	return w.delivered;
}
