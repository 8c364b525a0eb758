/*-------------------------------------------------------------------------
 *
 * message.h
 *	  A message's body and properties as sends, publishes and appends take
 *	  them (one message, or a batch), checked once at the entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_MESSAGE_H
#define MQ_MESSAGE_H

#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "args.h"

/* longest content_type, content_encoding, correlation_id, reply_to (AMQP's shortstr) */
#define MQ_PROPERTY_MAXLEN 255

/* what a payload without a content_type is */
#define MQ_DEFAULT_CONTENT_TYPE "application/octet-stream"

/*
 * One message: a JSON body or a bytes payload (never both), its
 * properties, and who sent it.  Every pointer may be NULL but one of body
 * and payload; a payload always has a content_type.
 */
typedef struct MqMessage
{
	Jsonb	   *body;
	bytea	   *payload;
	text	   *content_type;
	text	   *content_encoding;
	text	   *correlation_id;
	text	   *reply_to;
	TimestampTz expires_at;		/* the message's own ttl ends (0: none) */
	text	   *sent_by;		/* the current user at the send */
} MqMessage;

/*
 * The arguments of a send, publish or append that make its message: the
 * body in argument body_arg (may be NULL), and from argument first_arg on
 * (when the call has them: a database not yet updated calls with fewer)
 * payload, content_type, content_encoding, correlation_id, reply_to and,
 * when with_ttl, ttl (an interval after now).  Checked: one of body and
 * payload, sizes, the properties' lengths.
 */
extern void mq_message_from_args(FunctionCallInfo fcinfo, int body_arg,
								 int first_arg, bool with_ttl,
								 TimestampTz now, MqMessage *m);

/*
 * A batch's messages: bodies and payloads (one of them each element),
 * content types, correlation ids, and what all share.
 */
typedef struct MqBatchMessages
{
	int			n;
	MqBatchColumn bodies;		/* array NULL when not given */
	MqBatchColumn payloads;
	MqBatchColumn content_types;
	MqBatchColumn correlation_ids;
	MqMessage	shared;			/* content_encoding, reply_to, expires_at, sent_by */
} MqBatchMessages;

/*
 * The same for a batch: bodies in argument bodies_arg, then from first_arg
 * payloads, content_types, content_encoding, correlation_ids, reply_to
 * and, when with_ttl, ttl.  Returns the number of messages (checked
 * against mq.max_batch_size).
 */
extern int	mq_batch_messages_from_args(FunctionCallInfo fcinfo, int bodies_arg,
										int first_arg, bool with_ttl,
										TimestampTz now, MqBatchMessages *b);

/*
 * Where a table (a queue's, a stream segment's) keeps a message's columns:
 * attribute numbers, expires_at 0 where there is none
 */
typedef struct MqMessageAttnums
{
	int16		body;
	int16		payload;
	int16		content_type;
	int16		content_encoding;
	int16		correlation_id;
	int16		reply_to;
	int16		sent_by;
	int16		expires_at;
} MqMessageAttnums;

/* m's columns into a row's values and isnull, at the attribute numbers of at */
extern void mq_message_values(const MqMessage *m, const MqMessageAttnums *at,
							  Datum *values, bool *isnull);

/* message i of a batch */
extern void mq_batch_message(const MqBatchMessages *b, int i, MqMessage *m);

/* a message with a JSON body and nothing else, sent by the current user */
extern void mq_message_json(Jsonb *body, MqMessage *m);

#endif							/* MQ_MESSAGE_H */
