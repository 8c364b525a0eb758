/*-------------------------------------------------------------------------
 *
 * message.c
 *	  A message's body and properties as sends, publishes and appends take
 *	  them, shared by every entry point (queues, exchanges, streams).
 *
 *	  A message is JSON (body jsonb, NULL payload) or bytes (payload bytea
 *	  with a content_type, application/octet-stream when none is given, and
 *	  an optional content_encoding): never both, never neither.  AMQP's
 *	  correlation_id and reply_to travel with either, unread by mq; a send or
 *	  publish may give the message its own ttl (AMQP's expiration), kept as
 *	  the time it ends.  sent_by is the current user at the call (so the
 *	  owner of a SECURITY DEFINER function that sends, and for a trigger the
 *	  role whose statement fired it): no argument sets it.
 *
 *	  The properties are short strings, as AMQP's are: at most
 *	  MQ_PROPERTY_MAXLEN bytes without control characters (clients map them
 *	  to HTTP-like headers), and a content type or encoding is not empty.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "args.h"
#include "guc.h"
#include "message.h"

static text *
mq_current_sender(void)
{
	return cstring_to_text(GetUserNameFromId(GetUserId(), false));
}

void
mq_message_json(Jsonb *body, MqMessage *m)
{
	memset(m, 0, sizeof(*m));
	m->body = body;
	m->sent_by = mq_current_sender();
}

/* A short string property: at most MQ_PROPERTY_MAXLEN bytes (22023). */
static void
check_property(text *value, const char *what, bool token)
{
	const char *s;
	int			len;
	int			i;

	if (value == NULL)
		return;
	s = VARDATA_ANY(value);
	len = VARSIZE_ANY_EXHDR(value);
	if (len > MQ_PROPERTY_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("The %s is %d bytes long, more than the limit of %d.",
						   what, len, MQ_PROPERTY_MAXLEN),
				 errhint("Message properties are short strings, as in AMQP.")));
	if (token && len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what),
				 errhint("Give a media type such as 'application/x-protobuf', or NULL.")));
	/* C0 controls and DEL; C1 controls as UTF-8 (U+0080 .. U+009F) too */
	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f ||
			((unsigned char) s[i] == 0xc2 && i + 1 < len &&
			 (unsigned char) s[i + 1] >= 0x80 && (unsigned char) s[i + 1] <= 0x9f))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain control characters", what),
					 errhint("Message properties travel as header values: no line breaks, tabs or other controls.")));
}

/* The payload's size: up to mq.max_message_size bytes. */
static void
check_payload(bytea *payload)
{
	if (VARSIZE_ANY_EXHDR(payload) > (Size) mq_max_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message payload is too large"),
				 errdetail("The payload has %zu bytes; mq.max_message_size is %d.",
						   (Size) VARSIZE_ANY_EXHDR(payload), mq_max_message_size),
				 errhint("Keep large payloads in a table and send their key, or raise mq.max_message_size.")));
}

/*
 * One message's body or payload and its content properties: exactly one of
 * the two, and a content type only with a payload.
 */
static void
check_body(MqMessage *m, bool batch)
{
	if (m->body != NULL && m->payload != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 batch ? errmsg("a message of the batch has both a body and a payload") :
				 errmsg("a message has either a body or a payload, not both"),
				 errhint("Send JSON as body, or bytes as payload with their content_type.")));
	if (m->body == NULL && m->payload == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 batch ? errmsg("a message of the batch has neither a body nor a payload") :
				 errmsg("message body must not be null"),
				 errhint("Send JSON as body, or bytes as payload with their content_type.")));
	if (m->body != NULL)
	{
		mq_check_message(m->body, NULL);
		if (m->content_type != NULL || m->content_encoding != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("content_type and content_encoding are for payloads"),
					 errdetail("A JSON body is application/json, stored decoded."),
					 errhint("Send the bytes as payload to give them a content type.")));
		return;
	}
	check_payload(m->payload);
	check_property(m->content_type, "content_type", true);
	if (m->content_type == NULL)
		m->content_type = cstring_to_text(MQ_DEFAULT_CONTENT_TYPE);
}

#define ARG_TEXT(n) (PG_NARGS() > (n) && !PG_ARGISNULL(n) ? PG_GETARG_TEXT_PP(n) : NULL)

/* the ttl in argument argno, if given, as the time it ends */
static TimestampTz
expiry_argument(FunctionCallInfo fcinfo, int argno, TimestampTz now)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return 0;
	return mq_time_after(fcinfo, argno, now, "ttl", true);
}

void
mq_message_from_args(FunctionCallInfo fcinfo, int body_arg, int first_arg,
					 bool with_ttl, TimestampTz now, MqMessage *m)
{
	memset(m, 0, sizeof(*m));
	m->body = PG_ARGISNULL(body_arg) ? NULL : PG_GETARG_JSONB_P(body_arg);
	if (PG_NARGS() > first_arg && !PG_ARGISNULL(first_arg))
		m->payload = PG_GETARG_BYTEA_PP(first_arg);
	m->content_type = ARG_TEXT(first_arg + 1);
	m->content_encoding = ARG_TEXT(first_arg + 2);
	m->correlation_id = ARG_TEXT(first_arg + 3);
	m->reply_to = ARG_TEXT(first_arg + 4);
	check_property(m->content_encoding, "content_encoding", true);
	check_property(m->correlation_id, "correlation_id", false);
	check_property(m->reply_to, "reply_to", false);
	check_body(m, false);
	if (with_ttl)
		m->expires_at = expiry_argument(fcinfo, first_arg + 5, now);
	m->sent_by = mq_current_sender();
}

int
mq_batch_messages_from_args(FunctionCallInfo fcinfo, int bodies_arg,
							int first_arg, bool with_ttl, TimestampTz now,
							MqBatchMessages *b)
{
	bool		has_payloads = PG_NARGS() > first_arg && !PG_ARGISNULL(first_arg);
	int			n = -1;
	int			i;

	memset(b, 0, sizeof(*b));
	if (PG_ARGISNULL(bodies_arg) && !has_payloads)
		mq_null_argument("bodies");
	if (!PG_ARGISNULL(bodies_arg))
		n = mq_batch_column(fcinfo, bodies_arg, JSONBOID, "bodies", -1,
							has_payloads, &b->bodies);
	if (has_payloads)
		n = mq_batch_column(fcinfo, first_arg, BYTEAOID, "payloads", n,
							b->bodies.array != NULL, &b->payloads);
	mq_check_count(n, "batch size");
	b->n = n;
	if (PG_NARGS() > first_arg + 1)
		mq_batch_column(fcinfo, first_arg + 1, TEXTOID, "content_types", n, true,
						&b->content_types);
	if (PG_NARGS() > first_arg + 3)
		mq_batch_column(fcinfo, first_arg + 3, TEXTOID, "correlation_ids", n, true,
						&b->correlation_ids);
	b->shared.content_encoding = ARG_TEXT(first_arg + 2);
	b->shared.reply_to = ARG_TEXT(first_arg + 4);
	check_property(b->shared.content_encoding, "content_encoding", true);
	check_property(b->shared.reply_to, "reply_to", false);
	if (with_ttl)
		b->shared.expires_at = expiry_argument(fcinfo, first_arg + 5, now);
	b->shared.sent_by = mq_current_sender();

	for (i = 0; b->payloads.array != NULL && i < n; i++)
		if (!b->payloads.nulls[i])
			break;
	if (b->shared.content_encoding != NULL &&
		(b->payloads.array == NULL || i == n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("content_type and content_encoding are for payloads"),
				 errdetail("A JSON body is application/json, stored decoded."),
				 errhint("Send the bytes as payloads to give them a content encoding.")));

	/* each message: the checks of one (content_encoding: its payloads') */
	for (i = 0; i < n; i++)
	{
		MqMessage	m;

		mq_batch_message(b, i, &m);
		check_property(m.correlation_id, "correlation_id", false);
		check_body(&m, true);
	}
	return n;
}

void
mq_batch_message(const MqBatchMessages *b, int i, MqMessage *m)
{
#define ELEMENT(col, get) \
	((col).array != NULL && !(col).nulls[i] ? get((col).values[i]) : NULL)

	*m = b->shared;
	m->body = ELEMENT(b->bodies, DatumGetJsonbP);
	m->payload = ELEMENT(b->payloads, DatumGetByteaPP);
	m->content_type = ELEMENT(b->content_types, DatumGetTextPP);
	m->correlation_id = ELEMENT(b->correlation_ids, DatumGetTextPP);
	if (m->payload == NULL)
		m->content_encoding = NULL;
	else if (m->content_type == NULL)
		m->content_type = cstring_to_text(MQ_DEFAULT_CONTENT_TYPE);
#undef ELEMENT
}

void
mq_message_values(const MqMessage *m, const MqMessageAttnums *at,
				  Datum *values, bool *isnull)
{
#define PUT(anum, ptr) \
	(values[(anum) - 1] = PointerGetDatum(ptr), isnull[(anum) - 1] = ((ptr) == NULL))

	PUT(at->body, m->body);
	PUT(at->payload, m->payload);
	PUT(at->content_type, m->content_type);
	PUT(at->content_encoding, m->content_encoding);
	PUT(at->correlation_id, m->correlation_id);
	PUT(at->reply_to, m->reply_to);
	PUT(at->sent_by, m->sent_by);
#undef PUT
	if (at->expires_at > 0)
	{
		values[at->expires_at - 1] = TimestampTzGetDatum(m->expires_at);
		isnull[at->expires_at - 1] = (m->expires_at == 0);
	}
}
