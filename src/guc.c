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

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "guc.h"

/* largest number of messages one call may send, read, ack or archive */
int			mq_max_batch_size = 10000;

/* longest wait a blocking read may ask for, in milliseconds */
int			mq_max_wait = 60 * 1000;

/* how often a blocking read looks for new messages, in milliseconds */
int			mq_poll_interval = 250;

/* slots for blocked readers in shared memory */
int			mq_max_waiters = 1024;

/* rate buckets in shared memory (queue_limit.c) */
int			mq_max_rate_groups = 10000;

/* stream partitions in shared memory (stream_position.c) */
int			mq_max_stream_partitions = 4096;
int			mq_max_stream_consumers = 1024;
int			mq_max_group_partitions = 16384;

/*
 * What one role may hold of each of those tables (quota.c); -1: a quarter
 * of the table
 */
int			mq_max_rate_groups_per_role = -1;
int			mq_max_stream_partitions_per_role = -1;
int			mq_max_stream_consumers_per_role = -1;
int			mq_max_group_partitions_per_role = -1;

/* how often the background worker runs mq.maintain(), in milliseconds */
int			mq_maintenance_interval = 1000;

/* least time between two NOTIFYs of one queue, in milliseconds */
int			mq_notify_interval = 100;
int			mq_worker_max_sleep = 3600 * 1000;

/* the pool of workers: how many at once, and when one gives its slot back */
int			mq_max_workers = 4;
int			mq_worker_idle_timeout = 10 * 1000;

/* largest message body and headers, in bytes (jsonb size) */
int			mq_max_message_size = 1024 * 1024;
int			mq_max_headers_size = 64 * 1024;

/* how long a scan hint is trusted after a scan from the start; 0: off */
int			mq_scan_hint_max_age = 60000;

/* off: sends, reads and acks always run their SQL statements */
bool		mq_direct_access = true;

/* the worker compacts queue tables with this many dead rows (0: never) */
int			mq_compact_threshold = 100000;

/* ... that hold at most this many messages */
int			mq_compact_max_rows = 100000;

/* calls and blocking reads */
static void
define_read_gucs(void)
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
							"With mq preloaded, commits wake readers at once; polling finds delayed messages and ended leases.",
							&mq_poll_interval,
							250, 1, 10000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * Sizes of shared memory: waiters, rate buckets (queue_limit.c) and
 * stream positions (stream_position.c).  Only while preloading.
 */
static void
define_shared_memory_gucs(void)
{
	DefineCustomIntVariable("mq.max_waiters",
							"Most readers that can wait at once (shared memory slots).",
							"Readers beyond this poll every mq.poll_interval.",
							&mq_max_waiters,
							1024, 16, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_rate_groups",
							"Most rate buckets in shared memory: one per rate-limited queue and per group under group_rate_limit.",
							"A bucket that has refilled to its burst makes room for a new one; with none, a new group waits.",
							&mq_max_rate_groups,
							10000, 16, 10000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_stream_partitions",
							"Most stream partitions that shared memory keeps positions for.",
							"Every partition of every stream that has been appended to or read since the server started takes one.",
							&mq_max_stream_partitions,
							4096, 16, 1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_stream_consumers",
							"Most consumers of stream consumer groups that shared memory keeps at once.",
							"A consumer takes one from its first poll until its session times out.",
							&mq_max_stream_consumers,
							1024, 16, 1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_group_partitions",
							"Most (consumer group, partition) pairs that shared memory keeps holders and positions for.",
							"Every partition of every consumer group polled since the server started takes one.",
							&mq_max_group_partitions,
							16384, 16, 10000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

/*
 * What one role may hold of the tables above (quota.c): settable by
 * superusers per role or database too, without preloading as well
 */
static void
define_role_limit_gucs(void)
{
	DefineCustomIntVariable("mq.max_rate_groups_per_role",
							"Most rate buckets the queues of one role may hold in shared memory (-1: a quarter of mq.max_rate_groups).",
							"Beyond it a new group of the role's queues is held back; the queue's owner counts.",
							&mq_max_rate_groups_per_role,
							-1, -1, 10000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_stream_partitions_per_role",
							"Most stream partitions the streams of one role may hold in shared memory (-1: a quarter of mq.max_stream_partitions).",
							"The stream's owner counts.",
							&mq_max_stream_partitions_per_role,
							-1, -1, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_stream_consumers_per_role",
							"Most stream consumers one role may have registered in shared memory (-1: a quarter of mq.max_stream_consumers).",
							"The role that polls counts.",
							&mq_max_stream_consumers_per_role,
							-1, -1, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_group_partitions_per_role",
							"Most (consumer group, partition) pairs one role's polls may hold in shared memory (-1: a quarter of mq.max_group_partitions).",
							"The role that polls a group first counts.",
							&mq_max_group_partitions_per_role,
							-1, -1, 10000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}

/* the background worker: maintenance and NOTIFYs */
static void
define_worker_gucs(void)
{
	DefineCustomIntVariable("mq.maintenance_interval",
							"How often the background worker runs mq.maintain().",
							"0 turns the worker's maintenance off (it still sends NOTIFYs).",
							&mq_maintenance_interval,
							1000, 0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.notify_interval",
							"Least time between two NOTIFYs of one queue.",
							NULL,
							&mq_notify_interval,
							100, 1, 60 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.worker_max_sleep",
							"Longest time a database with mq goes without a round of maintenance.",
							"A safety net for changes no commit announces; 0: none (a database gets a worker only when its next deadline comes or a commit needs one).",
							&mq_worker_max_sleep,
							3600 * 1000, 0, 24 * 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_workers",
							"Most background workers mq runs at once, for all databases.",
							"Databases take turns when more of them have work; each worker also takes one of max_worker_processes.",
							&mq_max_workers,
							4, 1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.worker_idle_timeout",
							"How long a worker stays with its database idle before it gives its slot back.",
							"-1: workers never leave (one per database, with room for them in mq.max_workers).",
							&mq_worker_idle_timeout,
							10 * 1000, -1, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* the size of a message */
static void
define_message_size_gucs(void)
{
	DefineCustomIntVariable("mq.max_message_size",
							"Largest message body (jsonb, in bytes).",
							NULL,
							&mq_max_message_size,
							1024 * 1024, 1, MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.max_headers_size",
							"Largest message headers (jsonb, in bytes).",
							NULL,
							&mq_max_headers_size,
							64 * 1024, 1, MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}

/* reads without SQL and their scan hints */
static void
define_direct_access_gucs(void)
{
	DefineCustomIntVariable("mq.scan_hint_max_age",
							"How long a read trusts the shared hint of where a queue's live messages begin.",
							"After this long since the last scan from the start of the queue, the next read scans from the start. 0 turns the hints off.",
							&mq_scan_hint_max_age,
							60000, 0, 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("mq.direct_access",
							 "Sends, reads and acks go through the table access methods where they can.",
							 "Off makes every call run its SQL statement, the path REPEATABLE READ transactions and queues with triggers take: for tests and comparisons.",
							 &mq_direct_access,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/* the worker's compaction of queue tables */
static void
define_compaction_gucs(void)
{
	DefineCustomIntVariable("mq.compact_threshold",
							"Dead row versions in a queue's table at which the worker compacts it.",
							"The table is compacted when the statistics count at least this many dead rows and no fewer dead than live ones. 0 turns the worker's compaction off.",
							&mq_compact_threshold,
							100000, 0, PG_INT32_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mq.compact_max_rows",
							"Most messages a queue may hold for the worker to compact its table.",
							"Compaction copies every message under the table's exclusive lock: this bounds how long the queue waits for it.",
							&mq_compact_max_rows,
							100000, 1, PG_INT32_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
}

void
mq_define_gucs(void)
{
	define_read_gucs();
	/* a postmaster setting can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
		define_shared_memory_gucs();
	define_role_limit_gucs();
	define_worker_gucs();
	define_message_size_gucs();
	define_direct_access_gucs();
	define_compaction_gucs();
	MarkGUCPrefixReserved("mq");
}
