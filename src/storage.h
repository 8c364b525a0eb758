/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  The per-queue message tables and the statements run against them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_STORAGE_H
#define MQ_STORAGE_H

#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "queue.h"

/* Batch inputs for mq_storage_send_batch(), checked and deconstructed once */
typedef struct MqBatch
{
	int			n;
	MqBatchColumn bodies;
	MqBatchColumn headers;
	MqBatchColumn dedup_keys;
	MqBatchColumn group_keys;
} MqBatch;

extern int64 mq_storage_send(MqQueue *q, TimestampTz now, TimestampTz vt,
							 int32 priority, text *group_key, text *dedup_key,
							 Jsonb *headers, Jsonb *body);
extern void mq_storage_send_batch(MqQueue *q, TimestampTz now, TimestampTz vt,
								  int32 priority, MqBatch *batch,
								  Tuplestorestate *out, TupleDesc outdesc);
extern uint64 mq_storage_lease(MqQueue *q, TimestampTz now, TimestampTz vt,
							   int64 qty, Tuplestorestate *out,
							   TupleDesc outdesc, TimestampTz *not_before);
extern uint64 mq_storage_pop(MqQueue *q, TimestampTz now, int64 qty,
							 Tuplestorestate *out, TupleDesc outdesc);
extern bool mq_storage_ack(MqQueue *q, TimestampTz now, int64 msg_id,
						   bool archive);
extern void mq_storage_ack_many(MqQueue *q, TimestampTz now, ArrayType *ids,
								bool archive, Tuplestorestate *out,
								TupleDesc outdesc);
extern bool mq_storage_set_vt(MqQueue *q, int64 msg_id, TimestampTz vt);
extern void mq_storage_sweep(MqQueue *q, TimestampTz now,
							 int64 *dead_lettered, int64 *expired);
extern void mq_storage_announce(MqQueue *q);

#endif							/* MQ_STORAGE_H */
