/*-------------------------------------------------------------------------
 *
 * delivery.h
 *	  Checks shared by the sending functions (delivery.c, routing.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_DELIVERY_H
#define MQ_DELIVERY_H

#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "storage.h"

/* "<what> must not be null" (22004) */
extern void mq_null_argument(const char *what);

/* a count of messages must be 1 .. mq.max_batch_size (22023) */
extern void mq_check_count(int64 n, const char *what);

/*
 * Check the array in argument argno (if not NULL) and deconstruct it into
 * col: one dimension, n elements when n >= 0, no NULL elements unless
 * nulls_ok.  Returns the number of elements (0 for a NULL argument).
 */
extern int	mq_batch_column(FunctionCallInfo fcinfo, int argno, Oid elmtype,
							const char *what, int n, bool nulls_ok,
							MqBatchColumn *col);

/* headers must be an object; body and headers within their size limits */
extern void mq_check_message(Jsonb *body, Jsonb *headers);

/* now + the interval in argument argno (NULL: 0), not negative (or zero) */
extern TimestampTz mq_time_after(FunctionCallInfo fcinfo, int argno,
								 TimestampTz now, const char *what,
								 bool positive);

#endif							/* MQ_DELIVERY_H */
