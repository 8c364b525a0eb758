/*-------------------------------------------------------------------------
 *
 * queue_hint.h
 *	  Shared per-queue hints of where the live messages begin in the
 *	  delivery-order index.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUEUE_HINT_H
#define MQ_QUEUE_HINT_H

#include "datatype/timestamp.h"

#include "queue_order.h"

/* What a reader saw of its queue's hint before it scanned */
typedef struct MqHintRead
{
	bool		usable;			/* start the scan at key */
	bool		full;			/* a scan from the start is due */
	MqKey		key;
	uint64		gen;			/* for mq_hint_store() */
} MqHintRead;

extern void mq_hint_shmem_request(void);
extern void mq_hint_shmem_startup(void);
extern void mq_hint_read(int32 queue_id, TimestampTz now, MqHintRead *hr);
extern void mq_hint_store(int32 queue_id, const MqHintRead *hr,
						  const MqKey *first, TimestampTz now);
extern void mq_hint_lower(int32 queue_id, const MqKey *key);
extern void mq_hint_reset(int32 queue_id);
/* a new mq extension in this database: its queue ids start again */
extern void mq_hint_forget_database(Oid dbid);

#endif							/* MQ_QUEUE_HINT_H */
