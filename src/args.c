/*-------------------------------------------------------------------------
 *
 * args.c
 *	  Checks of the arguments of mq's SQL-callable functions, shared by
 *	  every entry point (queues, exchanges, triggers): NULLs, names,
 *	  counts, intervals, batch arrays and message sizes, each with one
 *	  error text; and the check that refuses changes on a standby or in a
 *	  read-only transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "args.h"
#include "guc.h"

PG_FUNCTION_INFO_V1(mq_require_primary_sql);
PG_FUNCTION_INFO_V1(mq_interval_too_long_sql);

/* how much of a bad name an error message shows */
#define MQ_NAME_SHOWN 64

/*
 * Raise the error for an invalid name.  The name is shown clipped, so that a
 * 10 kB name does not make a 10 kB error message.
 */
static void
mq_invalid_name(const char *kind, const char *name, int len, const char *why)
{
	int			shown = pg_mbcliplen(name, len, MQ_NAME_SHOWN);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s name \"%.*s%s\"",
					kind, shown, name, shown < len ? "..." : ""),
			 errdetail("%s", why),
			 errhint("Use 1 to %d letters, digits, underscores, dots or hyphens.",
					 MQ_NAME_MAXLEN)));
}

/* Is iv longer than MQ_MAX_INTERVAL_TEXT (100 years)? */

/*
 * Check that name is a valid queue (or exchange) name; kind says which, for
 * the error message.
 */
void
mq_check_name(const char *kind, text *name)
{
	const char *s = VARDATA_ANY(name);
	int			len = VARSIZE_ANY_EXHDR(name);
	int			i;

	if (len == 0)
		mq_invalid_name(kind, s, len, "The name is empty.");
	if (len > MQ_NAME_MAXLEN)
		mq_invalid_name(kind, s, len,
						psprintf("The name is %d bytes long, more than the limit of %d.",
								 len, MQ_NAME_MAXLEN));
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			mq_invalid_name(kind, s, len,
							"The name contains a character that is not allowed.");
	}
}

void
mq_null_argument(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s must not be null", what)));
}

void
mq_check_count(int64 n, const char *what)
{
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1", what)));
	if (n > mq_max_batch_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s " INT64_FORMAT " exceeds mq.max_batch_size (%d)",
						what, n, mq_max_batch_size),
				 errhint("Split the work into batches of at most %d messages, or raise mq.max_batch_size.",
						 mq_max_batch_size)));
}

/* Headers, if given, must be a JSON object, like AMQP's header table. */

/* -1, 0 or 1 as iv is negative, zero or positive (months count as 30 days) */
int
mq_interval_sign(Interval *iv)
{
	Interval	zero = {0};
	int32		cmp;

	cmp = DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(iv),
											IntervalPGetDatum(&zero)));
	return (cmp > 0) - (cmp < 0);
}

/*
 * Is iv longer than MQ_MAX_INTERVAL_TEXT?  Each field counts on its own too,
 * either way: now plus '5880000 years -2116800000 days', which is short as
 * a whole, adds the months first and leaves the range of timestamps.
 */
bool
mq_interval_too_long(Interval *iv)
{
	Interval	limit = {0};
	const int32 max_days = 36525;	/* 100 years of 365.25 days */
	const int64 max_time = (int64) max_days * USECS_PER_DAY;

	limit.month = 100 * MONTHS_PER_YEAR;
	if (iv->month > limit.month || iv->month < -limit.month ||
		iv->day > max_days || iv->day < -max_days ||
		iv->time > max_time || iv->time < -max_time)
		return true;
	return DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv),
											IntervalPGetDatum(&limit)));
}

/* what (a delay, a lease) must not exceed the limit on intervals (22023) */

void
mq_check_interval(Interval *iv, const char *what)
{
	if (mq_interval_too_long(iv))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most %s", what, MQ_MAX_INTERVAL_TEXT),
				 errhint("Give an interval such as '30 seconds'.")));
}

/* what must be zero or positive, or positive (22023) */
static void
interval_sign_error(const char *what, bool positive)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 positive ? errmsg("%s must be positive", what) :
			 errmsg("%s must be zero or positive", what),
			 errhint("Give an interval such as '30 seconds'.")));
}

/*
 * now + the interval in argument argno (NULL counts as zero).  The interval
 * must not be negative, nor zero when positive is set; what names it in
 * errors.  Its sign and length are checked before it is added, so that no
 * interval, however long either way, gets PostgreSQL's "timestamp out of
 * range" (22008) instead; the sum is checked again, for intervals whose
 * months and days have opposite signs.
 */
TimestampTz
mq_time_after(FunctionCallInfo fcinfo, int argno, TimestampTz now,
			  const char *what, bool positive)
{
	TimestampTz t = now;

	if (!PG_ARGISNULL(argno))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(argno);
		int			sign = mq_interval_sign(iv);

		if (sign < 0 || (positive && sign == 0))
			interval_sign_error(what, positive);
		mq_check_interval(iv, what);
		t = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(now),
													IntervalPGetDatum(iv)));
	}
	if (t < now || (positive && t == now))
		interval_sign_error(what, positive);
	return t;
}

/* Check that a count of messages is within 1 .. mq.max_batch_size. */

static Jsonb *
headers_argument(Jsonb *headers)
{
	if (headers != NULL && !JB_ROOT_IS_OBJECT(headers))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers must be a JSON object"),
				 errhint("Pass headers such as '{\"type\": \"order\"}', or NULL.")));
	return headers;
}

void
mq_check_message(Jsonb *body, Jsonb *headers)
{
	if (body != NULL && VARSIZE(body) > (Size) mq_max_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message body is too large"),
				 errdetail("The body takes %zu bytes; mq.max_message_size is %d.",
						   (Size) VARSIZE(body), mq_max_message_size),
				 errhint("Keep large payloads in a table and send their key, or raise mq.max_message_size.")));
	if (headers == NULL)
		return;
	headers_argument(headers);
	if (VARSIZE(headers) > (Size) mq_max_headers_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message headers are too large"),
				 errdetail("The headers take %zu bytes; mq.max_headers_size is %d.",
						   (Size) VARSIZE(headers), mq_max_headers_size),
				 errhint("Keep headers small, or raise mq.max_headers_size.")));
}

/*
 * Check a batch argument (argument argno, may be NULL) and deconstruct it
 * into col: one dimension (or empty), n elements when n >= 0, no NULL
 * elements unless allowed.  Returns the number of elements.
 */
int
mq_batch_column(FunctionCallInfo fcinfo, int argno, Oid elmtype,
				const char *what, int n, bool nulls_ok, MqBatchColumn *col)
{
	ArrayType  *a;
	int			count;

	memset(col, 0, sizeof(*col));
	if (PG_ARGISNULL(argno))
		return 0;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", what)));
	count = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (n >= 0 && count != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("%s has %d elements but the batch has %d message",
							   "%s has %d elements but the batch has %d messages",
							   n, what, count, n),
				 nulls_ok ? errhint("Pass one element per message, or NULL for none.") :
				 errhint("Pass one element per message.")));
	if (!nulls_ok && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain null elements", what)));
	col->array = a;
	deconstruct_array(a, elmtype, -1, false, TYPALIGN_INT,
					  &col->values, &col->nulls, &count);
	return count;
}

/*
 * Refuse to change queues on a standby (with a hint to go to the primary)
 * or in a read-only transaction.  what names the function.
 */
void
mq_require_primary(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s cannot run on a standby", what),
				 errdetail("The server is in recovery: on a standby queues can be watched (mq.metrics(), the views) but not changed."),
				 errhint("Connect to the primary server.")));
	if (XactReadOnly)
		PreventCommandIfReadOnly(what);
}

/*
 * Check name and copy it into key, a zero-padded buffer of
 * MQ_NAME_MAXLEN + 1 bytes: the hash key of the queue and exchange caches.
 */
void
mq_name_key(const char *kind, text *name, char *key)
{
	mq_check_name(kind, name);
	memset(key, 0, MQ_NAME_MAXLEN + 1);
	memcpy(key, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
}

/*
 * Every function that changes queues refuses to run on a standby or in a
 * read-only transaction; the check is two flags, the message needs more.
 */
void
mq_require_primary_fn(FunctionCallInfo fcinfo)
{
	if (RecoveryInProgress() || XactReadOnly)
		mq_require_primary(psprintf("mq.%s()", get_func_name(fcinfo->flinfo->fn_oid)));
}

/* mq._require_primary(what text) returns void */
Datum
mq_require_primary_sql(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("function name must not be null")));
	mq_require_primary(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * A message's group_key or dedup_key (what names it) must be at most
 * MQ_MESSAGE_KEY_MAXLEN bytes.  A longer one would fit a queue without the
 * index that holds it and fail later, in whatever moves the message into a
 * queue that has one (a FIFO dead-letter queue, say), blocking that move.
 */
void
mq_check_message_key(text *key, const char *what)
{
	if (key != NULL && VARSIZE_ANY_EXHDR(key) > MQ_MESSAGE_KEY_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("The %s is %zu bytes long, more than the limit of %d.",
						   what, (size_t) VARSIZE_ANY_EXHDR(key), MQ_MESSAGE_KEY_MAXLEN),
				 errhint("Group and dedup keys are at most %d bytes; send a hash of a longer key.",
						 MQ_MESSAGE_KEY_MAXLEN)));
}

/* the same for each key of a batch column (if it has one) */
void
mq_check_message_keys(MqBatchColumn *col, int n, const char *what)
{
	int			i;

	if (col->array == NULL)
		return;
	for (i = 0; i < n; i++)
		if (!col->nulls[i])
			mq_check_message_key(DatumGetTextPP(col->values[i]), what);
}

/* mq._interval_too_long(interval): the same test for the SQL option checks */

Datum
mq_interval_too_long_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mq_interval_too_long(PG_GETARG_INTERVAL_P(0)));
}
