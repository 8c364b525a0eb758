/*-------------------------------------------------------------------------
 *
 * queue_order.h
 *	  Delivery order, defined once: higher priority first, then the older
 *	  message (smaller msg_id).
 *
 * The index mq.q_<id>_order is (priority DESC, msg_id) (mq._create_storage),
 * the statements order by MQ_ORDER_SQL, and C compares with mq_key_cmp():
 * the walk of the index, the scan hints (queue_hint.c) and the sort of a lease's
 * results (queue_result.c) all agree with it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUEUE_ORDER_H
#define MQ_QUEUE_ORDER_H

/* A position in delivery order */
typedef struct MqKey
{
	int32		priority;
	int64		msg_id;
} MqKey;

/* the ORDER BY of delivery order, for the message table aliased a */
#define MQ_ORDER_SQL(a) a ".priority DESC, " a ".msg_id"

/* < 0 if a comes before b in delivery order, 0 if equal, > 0 after */
static inline int
mq_key_cmp(const MqKey *a, const MqKey *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->msg_id != b->msg_id)
		return a->msg_id < b->msg_id ? -1 : 1;
	return 0;
}

static inline bool
mq_key_before(const MqKey *a, const MqKey *b)
{
	return mq_key_cmp(a, b) < 0;
}

#endif							/* MQ_QUEUE_ORDER_H */
