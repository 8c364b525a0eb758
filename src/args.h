/*-------------------------------------------------------------------------
 *
 * args.h
 *	  Checks of the arguments of mq's SQL-callable functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_ARGS_H
#define MQ_ARGS_H

#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* longest queue or exchange name */
#define MQ_NAME_MAXLEN 48

/*
 * Intervals (queue options, delays, leases) are at most 100 years: far
 * beyond any use, and far from where now plus or minus one leaves
 * PostgreSQL's timestamps.
 */
#define MQ_MAX_INTERVAL_TEXT "100 years"

/* One column of a batch: the array (NULL if not given) and its elements */
typedef struct MqBatchColumn
{
	ArrayType  *array;
	Datum	   *values;
	bool	   *nulls;
} MqBatchColumn;

/* a queue or exchange name: 1 to MQ_NAME_MAXLEN of [A-Za-z0-9_.-] (22023) */
extern void mq_check_name(const char *kind, text *name);

/*
 * A message's group_key or dedup_key: at most MQ_MESSAGE_KEY_MAXLEN bytes
 * (22023), so that every index a message may meet -- a FIFO or fair queue's
 * group index, a dead-letter queue's, the dedup keys' -- takes it.
 */
#define MQ_MESSAGE_KEY_MAXLEN 512
extern void mq_check_message_key(text *key, const char *what);
extern void mq_check_message_keys(MqBatchColumn *col, int n, const char *what);

/* "<what> must not be null" (22004) */
extern void mq_null_argument(const char *what);

/* a count of messages must be 1 .. mq.max_batch_size (22023) */
extern void mq_check_count(int64 n, const char *what);

/* an interval's sign: -1, 0 or 1 */
extern int	mq_interval_sign(Interval *iv);

/* an interval must not exceed MQ_MAX_INTERVAL_TEXT, nor any of its fields (22023) */
extern bool mq_interval_too_long(Interval *iv);
extern void mq_check_interval(Interval *iv, const char *what);

/* now + the interval in argument argno (NULL: 0), not negative (or zero) */
extern TimestampTz mq_time_after(FunctionCallInfo fcinfo, int argno,
								 TimestampTz now, const char *what,
								 bool positive);

/* headers must be an object; body and headers within their size limits */
extern void mq_check_message(Jsonb *body, Jsonb *headers);

/*
 * Check the array in argument argno (if not NULL) and deconstruct it into
 * col: one dimension, n elements when n >= 0, no NULL elements unless
 * nulls_ok.  Returns the number of elements (0 for a NULL argument).
 */
extern int	mq_batch_column(FunctionCallInfo fcinfo, int argno, Oid elmtype,
							const char *what, int n, bool nulls_ok,
							MqBatchColumn *col);

/*
 * Refuse to change anything on a standby (with a hint to go to the
 * primary) or in a read-only transaction; what, or the called function,
 * names it (25006)
 */
extern void mq_require_primary(const char *what);
extern void mq_require_primary_fn(FunctionCallInfo fcinfo);

/* check a name and copy it, zero padded, into a MQ_NAME_MAXLEN + 1 key */
extern void mq_name_key(const char *kind, text *name, char *key);

#endif							/* MQ_ARGS_H */
