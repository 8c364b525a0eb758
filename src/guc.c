/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Configuration parameters of mq.
 *
 * All parameters live under the reserved prefix "mq.".  They are defined
 * when the library is loaded, whether through shared_preload_libraries or
 * on first use of an mq function, so that SET mq.x works in either case.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "guc.h"

/* largest number of messages one call may send, read, ack or archive */
int			mq_max_batch_size = 10000;

/* longest wait a blocking read may ask for, in milliseconds */
int			mq_max_wait = 60 * 1000;

/* how often a blocking read looks for new messages, in milliseconds */
int			mq_poll_interval = 100;

void
mq_define_gucs(void)
{
	DefineCustomIntVariable("mq.max_batch_size",
							"Largest number of messages one call may send, read, ack or archive.",
							NULL,
							&mq_max_batch_size,
							10000, 1, 1000000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_wait",
							"Longest wait a blocking mq.read() may ask for.",
							NULL,
							&mq_max_wait,
							60 * 1000, 0, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.poll_interval",
							"How often a blocking mq.read() looks for new messages.",
							NULL,
							&mq_poll_interval,
							100, 1, 10000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("mq");
}
