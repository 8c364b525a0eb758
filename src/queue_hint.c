/*-------------------------------------------------------------------------
 *
 * queue_hint.c
 *	  Shared per-queue hints of where the live messages begin in the
 *	  delivery-order index.  See src/README.md ("Scan hints").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "queue_hint.h"

#define MQ_HINT_SLOTS 1024
#define MQ_HINT_RING 32

typedef struct MqHint
{
	slock_t		mutex;
	Oid			dbid;
	int32		queue_id;
	bool		valid;
	MqKey		key;
	TimestampTz full_scan_at;
	uint64		gen;			/* lowerings, resets and takeovers so far */
	MqKey		lowered[MQ_HINT_RING];	/* key of lowering gen, at gen % RING */
} MqHint;

static MqHint *mq_hints = NULL;
/* the key before every key */
static const MqKey mq_key_first = {PG_INT32_MAX, PG_INT64_MIN};

void
mq_hint_shmem_request(void)
{
	RequestAddinShmemSpace(mul_size(MQ_HINT_SLOTS, sizeof(MqHint)));
}

void
mq_hint_shmem_startup(void)
{
	bool		found;

	mq_hints = ShmemInitStruct("mq hints", mul_size(MQ_HINT_SLOTS, sizeof(MqHint)),
							   &found);
	if (!found)
	{
		int			i;

		memset(mq_hints, 0, mul_size(MQ_HINT_SLOTS, sizeof(MqHint)));
		for (i = 0; i < MQ_HINT_SLOTS; i++)
			SpinLockInit(&mq_hints[i].mutex);
	}
}

static MqHint *
hint_slot(int32 queue_id)
{
	uint32		h = hash_combine(hash_uint32((uint32) MyDatabaseId),
								 hash_uint32((uint32) queue_id));

	return &mq_hints[h % MQ_HINT_SLOTS];
}

/* Record a lowering (or a reset: key mq_key_first).  Holds the mutex. */
static void
hint_lowered(MqHint *h, const MqKey *key)
{
	h->gen++;
	h->lowered[h->gen % MQ_HINT_RING] = *key;
	if (h->valid && mq_key_before(key, &h->key))
	{
		h->key = *key;
		if (key->msg_id == PG_INT64_MIN)
			h->valid = false;
	}
}

/*
 * Before a scan: where to start, and the generation to store against.  A
 * queue that does not own its slot takes it over, without a hint.
 */
void
mq_hint_read(int32 queue_id, TimestampTz now, MqHintRead *hr)
{
	MqHint	   *h;

	hr->usable = false;
	hr->full = true;
	hr->gen = 0;
	if (mq_hints == NULL)
		return;
	h = hint_slot(queue_id);
	SpinLockAcquire(&h->mutex);
	if (h->dbid != MyDatabaseId || h->queue_id != queue_id)
	{
		h->dbid = MyDatabaseId;
		h->queue_id = queue_id;
		h->valid = false;
		hint_lowered(h, &mq_key_first);
	}
	hr->gen = h->gen;
	if (h->valid && mq_scan_hint_max_age > 0 &&
		!TimestampDifferenceExceeds(h->full_scan_at, now, mq_scan_hint_max_age))
	{
		hr->usable = true;
		hr->full = false;
		hr->key = h->key;
	}
	SpinLockRelease(&h->mutex);
}

/*
 * After a scan that started at hr (or at the start, if !hr->usable): every
 * entry before *first is dead for good.  Store it as the hint unless a
 * lowering since the scan began may have put a row before it.
 */
void
mq_hint_store(int32 queue_id, const MqHintRead *hr, const MqKey *first,
			  TimestampTz now)
{
	MqHint	   *h;
	uint64		g;
	bool		ok = true;

	if (mq_hints == NULL)
		return;
	h = hint_slot(queue_id);
	SpinLockAcquire(&h->mutex);
	if (h->dbid != MyDatabaseId || h->queue_id != queue_id ||
		h->gen - hr->gen >= MQ_HINT_RING)
		ok = false;
	for (g = hr->gen + 1; ok && g <= h->gen; g++)
		if (mq_key_before(&h->lowered[g % MQ_HINT_RING], first))
			ok = false;
	if (ok)
	{
		h->valid = true;
		h->key = *first;
		if (hr->full)
			h->full_scan_at = now;
	}
	SpinLockRelease(&h->mutex);
}

/*
 * A row with this key was just put into the queue's table (its index
 * entries exist; its transaction has not committed).
 */
void
mq_hint_lower(int32 queue_id, const MqKey *key)
{
	MqHint	   *h;

	if (mq_hints == NULL)
		return;
	h = hint_slot(queue_id);
	SpinLockAcquire(&h->mutex);
	if (h->dbid == MyDatabaseId && h->queue_id == queue_id)
		hint_lowered(h, key);
	SpinLockRelease(&h->mutex);
}

/* Rows were put into the queue's table at unknown keys. */
void
mq_hint_reset(int32 queue_id)
{
	mq_hint_lower(queue_id, &mq_key_first);
}

/*
 * Forget the hints of database dbid's queues: its mq extension was just
 * created (queue ids start again at 1) or dropped, or the database was
 * dropped (mq.c).
 */
void
mq_hint_forget_database(Oid dbid)
{
	int			i;

	if (mq_hints == NULL)
		return;
	for (i = 0; i < MQ_HINT_SLOTS; i++)
	{
		MqHint	   *h = &mq_hints[i];

		SpinLockAcquire(&h->mutex);
		if (h->dbid == dbid)
		{
			h->dbid = InvalidOid;
			h->queue_id = 0;
			h->valid = false;
			h->gen++;
		}
		SpinLockRelease(&h->mutex);
	}
}
