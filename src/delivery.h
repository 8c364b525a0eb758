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

/* headers must be an object; body and headers within their size limits */
extern void mq_check_message(Jsonb *body, Jsonb *headers);

/* now + the interval in argument argno (NULL: 0), not negative (or zero) */
extern TimestampTz mq_time_after(FunctionCallInfo fcinfo, int argno,
								 TimestampTz now, const char *what,
								 bool positive);

#endif							/* MQ_DELIVERY_H */
