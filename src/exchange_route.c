/*-------------------------------------------------------------------------
 *
 * exchange_route.c
 *	  Exchanges and bindings: the per-backend cache of the exchange catalog
 *	  and routing, which queues and streams a published message reaches
 *	  (publishing is in exchange_publish.c).
 *
 * Routing follows AMQP 0-9-1 as RabbitMQ implements it:
 *
 *	direct	the binding key equals the routing key (byte for byte)
 *	fanout	every binding
 *	topic	keys are words separated by '.'; in a binding key '*' matches
 *			exactly one word and '#' zero or more words (exchange_topic.c)
 *	headers	binding arguments are compared with the message headers:
 *			x-match "all" (default) or "any" over the arguments not starting
 *			with "x-", or "all-with-x" / "any-with-x" over all but x-match;
 *			values are equal when their JSON values are equal
 *
 * Bindings can lead to other exchanges (exchange-to-exchange bindings);
 * cycles are cut by visiting each exchange once per publish, and a message
 * reaches each queue at most once however many bindings match.  A message
 * no binding takes goes to the exchange's alternate exchange (and its
 * alternate, and so on); if that fails too it is unroutable: an error when
 * the publisher asked for mandatory delivery, else dropped and counted.
 *
 * Privileges are checked where the message moves, not only when a link is
 * made: a binding leads on only while the role that made it (its owner)
 * may still send to its destination (send or manage on a queue or stream,
 * publish or manage on an exchange), and an alternate exchange takes a
 * message only while the owner of the exchange that names it may publish
 * to it.  A binding cut so matches nothing; a message no binding takes is
 * unroutable as above.  The answers are worked out when the cache is
 * built, so routing pays nothing for them: the cache is thrown away when
 * grants change and when role memberships or superuser status do.
 *
 * Each backend caches the whole exchange catalog, built on first use and
 * thrown away when mq._exchange, mq._binding or mq._queue change (their
 * triggers invalidate the relcache entry of the table; see
 * queue_catalog.c).  In the cache direct bindings are sorted by key and
 * topic bindings form a trie of words (exchange_topic.c), so the cost of
 * routing grows with the length of the routing key and the number of
 * matches, not with the number of bindings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "args.h"
#include "compat.h"
#include "guc.h"
#include "exchange.h"
#include "exchange_topic.h"
#include "privilege.h"
#include "spi.h"


typedef enum MatchMode
{
	MATCH_ALL,
	MATCH_ANY,
	MATCH_ALL_WITH_X,
	MATCH_ANY_WITH_X
} MatchMode;

typedef struct Binding
{
	char	   *key;			/* binding key */
	char	   *queue;			/* destination queue, or NULL */
	char	   *stream;			/* destination stream, or NULL */
	int32		exchange_id;	/* destination exchange, when both are NULL */
	Oid			owner;			/* the role that made it */
	int32		dest_id;		/* queue_id or stream_id */
	Oid			dest_owner;		/* the owner of that queue or stream */
	bool		allowed;		/* may owner still send to the destination? */
	/* headers exchanges */
	MatchMode	mode;
	int			nargs;
	char	  **arg_keys;
	Jsonb	  **arg_values;
} Binding;

typedef struct Exchange
{
	int32		id;				/* hash key */
	char		name[MQ_NAME_MAXLEN + 1];
	char		type;			/* 'd', 'f', 't', 'h' */
	int32		alternate_id;	/* 0: none */
	bool		alternate_allowed;	/* may our owner publish to it? */
	List	   *bindings;		/* all (fanout, headers; direct while building) */
	int			ndirect;		/* direct: bindings sorted by key */
	Binding   **direct;
	MqTopicNode *topic;			/* topic: trie of binding keys */
	MqAcl		acl;			/* owner and grants */
} Exchange;

typedef struct ExchangeName
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	Exchange   *exchange;
} ExchangeName;

static MemoryContext routing_cxt = NULL;
static bool routing_valid = false;
static bool routing_callback_registered = false;
static uint64 routing_generation = 0;	/* invalidations seen */
static HTAB *exchanges_by_id = NULL;
static HTAB *exchanges_by_name = NULL;
static Oid	watched_relids[5];
static SPIPlanPtr unroutable_plan = NULL;

/* role memberships and superuser status decide which bindings lead on */
static void
routing_role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	routing_valid = false;
	routing_generation++;
}

static void
routing_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < lengthof(watched_relids); i++)
		if (relid == InvalidOid || relid == watched_relids[i])
		{
			routing_valid = false;
			routing_generation++;
			break;
		}
}

static int
binding_key_cmp(const void *a, const void *b)
{
	return strcmp((*(Binding *const *) a)->key, (*(Binding *const *) b)->key);
}

static Exchange *
exchange_by_id_in(HTAB *by_id, int32 id)
{
	return hash_search(by_id, &id, HASH_FIND, NULL);
}

/* Parse the arguments of a headers binding. */
static void
parse_header_arguments(Binding *b, Jsonb *args)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap = 8;

	b->mode = MATCH_ALL;
	b->nargs = 0;
	b->arg_keys = palloc(sizeof(char *) * cap);
	b->arg_values = palloc(sizeof(Jsonb *) * cap);

	it = JsonbIteratorInit(&args->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (strcmp(key, "x-match") == 0)
		{
			if (v.type == jbvString)
			{
				char	   *mode = pnstrdup(v.val.string.val, v.val.string.len);

				if (strcmp(mode, "any") == 0)
					b->mode = MATCH_ANY;
				else if (strcmp(mode, "all-with-x") == 0)
					b->mode = MATCH_ALL_WITH_X;
				else if (strcmp(mode, "any-with-x") == 0)
					b->mode = MATCH_ANY_WITH_X;
			}
			continue;
		}
		if (b->nargs == cap)
		{
			cap *= 2;
			b->arg_keys = repalloc(b->arg_keys, sizeof(char *) * cap);
			b->arg_values = repalloc(b->arg_values, sizeof(Jsonb *) * cap);
		}
		b->arg_keys[b->nargs] = key;
		b->arg_values[b->nargs] = JsonbValueToJsonb(&v);
		b->nargs++;
	}
}

/* Does a headers binding match these message headers (NULL: none)? */
static bool
headers_match(Binding *b, Jsonb *headers)
{
	bool		any = (b->mode == MATCH_ANY || b->mode == MATCH_ANY_WITH_X);
	bool		with_x = (b->mode == MATCH_ALL_WITH_X || b->mode == MATCH_ANY_WITH_X);
	int			i;

	for (i = 0; i < b->nargs; i++)
	{
		JsonbValue *found = NULL;
		bool		equal = false;

		if (!with_x && strncmp(b->arg_keys[i], "x-", 2) == 0)
			continue;
		if (headers != NULL && JB_ROOT_IS_OBJECT(headers))
			found = getKeyJsonValueFromContainer(&headers->root, b->arg_keys[i],
												 strlen(b->arg_keys[i]), NULL);
		if (found != NULL)
			equal = compareJsonbContainers(&JsonbValueToJsonb(found)->root,
										   &b->arg_values[i]->root) == 0;
		if (any && equal)
			return true;
		if (!any && !equal)
			return false;
	}
	/* all: every argument matched (vacuously, if none); any: none did */
	return !any;
}

/* the catalog tables whose changes throw the cache away */
static void
routing_watch_catalog(void)
{
	Oid			nsp;

	nsp = get_namespace_oid("mq", false);
	watched_relids[0] = get_relname_relid("_queue", nsp);
	watched_relids[1] = get_relname_relid("_exchange", nsp);
	watched_relids[2] = get_relname_relid("_binding", nsp);
	watched_relids[3] = get_relname_relid("_privilege", nsp);
	watched_relids[4] = get_relname_relid("_stream", nsp);
}

/* the empty hash tables of a new cache, in cxt */
static void
routing_create_tables(MemoryContext cxt, HTAB **by_id, HTAB **by_name)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(Exchange);
	ctl.hcxt = cxt;
	*by_id = hash_create("mq exchanges by id", 64, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MQ_NAME_MAXLEN + 1;
	ctl.entrysize = sizeof(ExchangeName);
	ctl.hcxt = cxt;
	*by_name = hash_create("mq exchanges by name", 64, &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* Read mq._exchange into the new cache's tables (under SPI). */
static void
routing_load_exchanges(MemoryContext cxt, HTAB *by_id, HTAB *by_name)
{
	MemoryContext old;
	int			ret;
	uint64		i;

	ret = mq_execute_as_owner("SELECT exchange_id, exchange_name, type,"
							  " coalesce(alternate_exchange_id, 0), owner"
							  " FROM mq._exchange", 0, NULL, NULL, NULL, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *name = SPI_getvalue(tup, desc, 2);
		char	   *type = SPI_getvalue(tup, desc, 3);
		Exchange   *x;
		ExchangeName *xn;
		bool		found;
		char		key[MQ_NAME_MAXLEN + 1];

		x = hash_search(by_id, &id, HASH_ENTER, &found);
		memset(((char *) x) + sizeof(int32), 0, sizeof(Exchange) - sizeof(int32));
		strlcpy(x->name, name, sizeof(x->name));
		x->type = type[0];
		x->alternate_id = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		x->acl.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
		if (x->type == 't')
			x->topic = mq_topic_new();
		memset(key, 0, sizeof(key));
		strlcpy(key, name, sizeof(key));
		xn = hash_search(by_name, key, HASH_ENTER, &found);
		xn->exchange = x;
	}
	MemoryContextSwitchTo(old);
}

/* the grants of every exchange (another query: read them first) */
static void
routing_load_grants(MemoryContext cxt, HTAB *by_id)
{
	HASH_SEQ_STATUS status;
	Exchange   *x;

	hash_seq_init(&status, by_id);
	while ((x = hash_seq_search(&status)) != NULL)
		mq_load_acl(&x->acl, "exchange", x->id, x->acl.owner, cxt);
}

/*
 * Run the query of all bindings (under SPI): source exchange, destination
 * queue, exchange and stream, key and arguments.
 */
static void
routing_query_bindings(void)
{
	int			ret;

	/*
	 * bindings to streams: from 0.5.0 on; their owners: from 0.8.0 on
	 * (before the update every binding counts as made by its destination's
	 * owner, as the update has it)
	 */
	if (get_attnum(watched_relids[2], "owner") != InvalidAttrNumber)
		ret = mq_execute_as_owner("SELECT b.source_id, q.queue_name,"
								  " coalesce(b.exchange_id, 0), b.binding_key, b.arguments,"
								  " t.stream_name, b.owner,"
								  " coalesce(q.queue_id, t.stream_id, 0),"
								  " coalesce(q.owner, t.owner, 0)"
								  " FROM mq._binding b LEFT JOIN mq._queue q"
								  " ON q.queue_id OPERATOR(pg_catalog.=) b.queue_id"
								  " LEFT JOIN mq._stream t"
								  " ON t.stream_id OPERATOR(pg_catalog.=) b.stream_id",
								  0, NULL, NULL, NULL, 0);
	else if (get_attnum(watched_relids[2], "stream_id") != InvalidAttrNumber)
		ret = mq_execute_as_owner("SELECT b.source_id, q.queue_name,"
								  " coalesce(b.exchange_id, 0), b.binding_key, b.arguments,"
								  " t.stream_name, coalesce(q.owner, t.owner, d.owner),"
								  " coalesce(q.queue_id, t.stream_id, 0),"
								  " coalesce(q.owner, t.owner, 0)"
								  " FROM mq._binding b LEFT JOIN mq._queue q"
								  " ON q.queue_id OPERATOR(pg_catalog.=) b.queue_id"
								  " LEFT JOIN mq._stream t"
								  " ON t.stream_id OPERATOR(pg_catalog.=) b.stream_id"
								  " LEFT JOIN mq._exchange d"
								  " ON d.exchange_id OPERATOR(pg_catalog.=) b.exchange_id",
								  0, NULL, NULL, NULL, 0);
	else
		ret = mq_execute_as_owner("SELECT b.source_id, q.queue_name,"
								  " coalesce(b.exchange_id, 0), b.binding_key, b.arguments,"
								  " NULL::pg_catalog.text, coalesce(q.owner, d.owner),"
								  " coalesce(q.queue_id, 0), coalesce(q.owner, 0)"
								  " FROM mq._binding b LEFT JOIN mq._queue q"
								  " ON q.queue_id OPERATOR(pg_catalog.=) b.queue_id"
								  " LEFT JOIN mq._exchange d"
								  " ON d.exchange_id OPERATOR(pg_catalog.=) b.exchange_id",
								  0, NULL, NULL, NULL, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/*
 * Read mq._binding into the exchanges of the new cache (under SPI): to
 * queues, streams and other exchanges, in a topic exchange's trie or in
 * its list.
 */
static List *
routing_load_bindings(MemoryContext cxt, HTAB *by_id)
{
	MemoryContext old;
	uint64		i;
	List	   *all = NIL;

	routing_query_bindings();
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		source = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		Exchange   *x = hash_search(by_id, &source, HASH_FIND, NULL);
		Binding    *b = palloc0(sizeof(Binding));

		if (x == NULL)
			continue;			/* cannot happen: foreign key */
		b->queue = SPI_getvalue(tup, desc, 2);
		b->stream = SPI_getvalue(tup, desc, 6);
		b->exchange_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		b->key = SPI_getvalue(tup, desc, 4);
		b->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 7, &isnull));
		b->dest_id = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
		b->dest_owner = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
		all = lappend(all, b);
		if (x->type == 'h')
			parse_header_arguments(b, DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 5,
																	  &isnull)));
		if (x->type == 't')
			mq_topic_insert(x->topic, b->key, b);
		else
			x->bindings = lappend(x->bindings, b);
	}
	MemoryContextSwitchTo(old);
	return all;
}

/*
 * Which links still lead on (under SPI): each binding whose owner may send
 * to its destination, each alternate exchange that its exchange's owner may
 * publish to.  A binding made by its destination's owner needs no look-up.
 */
static void
routing_check_links(MemoryContext cxt, HTAB *by_id, List *bindings)
{
	HASH_SEQ_STATUS status;
	Exchange   *x;
	ListCell   *lc;

	foreach(lc, bindings)
	{
		Binding    *b = lfirst(lc);
		MqAcl		acl;

		CHECK_FOR_INTERRUPTS();
		if (b->queue == NULL && b->stream == NULL)
		{
			Exchange   *dest = exchange_by_id_in(by_id, b->exchange_id);

			b->allowed = dest != NULL &&
				mq_acl_allows(&dest->acl, b->owner,
							  MQ_PRIV_PUBLISH | MQ_PRIV_MANAGE);
			continue;
		}
		if (b->owner == b->dest_owner || superuser_arg(b->owner))
		{
			b->allowed = true;
			continue;
		}
		mq_load_acl(&acl, b->queue != NULL ? "queue" : "stream", b->dest_id,
					b->dest_owner, CurrentMemoryContext);
		b->allowed = mq_acl_allows(&acl, b->owner,
								   MQ_PRIV_SEND | MQ_PRIV_MANAGE);
	}
	hash_seq_init(&status, by_id);
	while ((x = hash_seq_search(&status)) != NULL)
	{
		Exchange   *alternate = exchange_by_id_in(by_id, x->alternate_id);

		x->alternate_allowed = alternate != NULL &&
			mq_acl_allows(&alternate->acl, x->acl.owner,
						  MQ_PRIV_PUBLISH | MQ_PRIV_MANAGE);
	}
}

/* finish: sort direct bindings, sort the tries */
static void
routing_finish(MemoryContext cxt, HTAB *by_id)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HASH_SEQ_STATUS status;
	Exchange   *x;

	hash_seq_init(&status, by_id);
	while ((x = hash_seq_search(&status)) != NULL)
	{
		if (x->type == 'd')
		{
			ListCell   *lc;
			int			j = 0;

			x->ndirect = list_length(x->bindings);
			x->direct = palloc(sizeof(Binding *) * (x->ndirect + 1));
			foreach(lc, x->bindings)
				x->direct[j++] = lfirst(lc);
			qsort(x->direct, x->ndirect, sizeof(Binding *), binding_key_cmp);
		}
		if (x->type == 't')
			mq_topic_finish(x->topic);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The new cache is complete: publish it in place of the old one, valid
 * unless an invalidation came after generation.
 */
static void
routing_publish(MemoryContext cxt, HTAB *by_id, HTAB *by_name,
				uint64 generation)
{
	MemoryContextSetParent(cxt, CacheMemoryContext);
	if (routing_cxt != NULL)
		MemoryContextDelete(routing_cxt);
	routing_cxt = cxt;
	exchanges_by_id = by_id;
	exchanges_by_name = by_name;
	if (unroutable_plan != NULL)
	{
		SPI_freeplan(unroutable_plan);
		unroutable_plan = NULL;
	}
	routing_valid = (routing_generation == generation);
}

/*
 * Read the catalog into a fresh cache and make it the current one.
 *
 * The cache is built in a context of its own under the caller's, and only
 * moved under CacheMemoryContext and published once complete: an error
 * halfway (a lock timeout on mq._binding, say) frees it with the caller's
 * memory and leaves the old cache in place, still marked invalid, so that
 * the next call tries again.  A half-built cache would route messages to
 * fewer queues than their bindings say, silently.  An invalidation that
 * arrives while the catalog is read leaves the new cache marked invalid
 * too: this call uses it, the next one reads again.
 */
static void
routing_load(void)
{
	MemoryContext cxt;
	HTAB	   *by_id;
	HTAB	   *by_name;
	uint64		generation;

	if (!routing_callback_registered)
	{
		CacheRegisterRelcacheCallback(routing_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, routing_role_callback,
									  (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, routing_role_callback,
									  (Datum) 0);
		routing_callback_registered = true;
	}
	generation = routing_generation;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "mq routing cache",
								ALLOCSET_DEFAULT_SIZES);
	routing_watch_catalog();
	routing_create_tables(cxt, &by_id, &by_name);

	mq_spi_connect();
	routing_load_exchanges(cxt, by_id, by_name);
	routing_load_grants(cxt, by_id);
	routing_check_links(cxt, by_id, routing_load_bindings(cxt, by_id));
	routing_finish(cxt, by_id);
	SPI_finish();

	/* complete: publish it */
	routing_publish(cxt, by_id, by_name, generation);
}

static Exchange *
exchange_by_id(int32 id)
{
	return exchange_by_id_in(exchanges_by_id, id);
}

/* The bindings of x that match a message. */
static List *
matching_bindings(Exchange *x, const char *routing_key, char **words,
				  int nwords, Jsonb *headers)
{
	List	   *out = NIL;
	ListCell   *lc;

	switch (x->type)
	{
		case 'f':
			return x->bindings;
		case 't':
			return mq_topic_match(x->topic, words, nwords);
		case 'h':
			foreach(lc, x->bindings)
				if (headers_match(lfirst(lc), headers))
					out = lappend(out, lfirst(lc));
			return out;
		case 'd':
			{
				Binding		key;
				Binding    *keyp = &key;
				Binding   **found;
				int			lo,
							hi;

				if (x->ndirect == 0)
					return NIL;
				key.key = (char *) routing_key;
				found = bsearch(&keyp, x->direct, x->ndirect, sizeof(Binding *),
								binding_key_cmp);
				if (found == NULL)
					return NIL;
				/* all bindings with this key sit next to each other */
				lo = hi = found - x->direct;
				while (lo > 0 && strcmp(x->direct[lo - 1]->key, routing_key) == 0)
					lo--;
				while (hi + 1 < x->ndirect &&
					   strcmp(x->direct[hi + 1]->key, routing_key) == 0)
					hi++;
				for (; lo <= hi; lo++)
					out = lappend(out, x->direct[lo]);
				return out;
			}
	}
	return NIL;
}

/*
 * Route through x and the exchanges bound to it, adding queue names to
 * *queues and stream names to *streams.  *visited holds the ids of the
 * exchanges seen in this publish.
 */
static void
route_exchange(Exchange *x, const char *routing_key, char **words, int nwords,
			   Jsonb *headers, List **visited, List **queues, List **streams)
{
	ListCell   *lc;

	if (list_member_int(*visited, x->id))
		return;
	*visited = lappend_int(*visited, x->id);
	foreach(lc, matching_bindings(x, routing_key, words, nwords, headers))
	{
		Binding    *b = lfirst(lc);

		if (!b->allowed)
			continue;			/* its owner may no longer send there */
		if (b->queue != NULL)
			*queues = lappend(*queues, b->queue);
		else if (b->stream != NULL)
			*streams = lappend(*streams, b->stream);
		else
		{
			Exchange   *dest = exchange_by_id(b->exchange_id);

			if (dest)
				route_exchange(dest, routing_key, words, nwords, headers,
							   visited, queues, streams);
		}
	}
}

static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/* The cached exchange of that name, or an error. */
static Exchange *
exchange_by_name(text *exchange)
{
	char		key[MQ_NAME_MAXLEN + 1];
	ExchangeName *xn;

	mq_name_key("exchange", exchange, key);
	if (!routing_valid)
		routing_load();
	xn = hash_search(exchanges_by_name, key, HASH_FIND, NULL);
	if (xn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("exchange \"%s\" does not exist", key),
				 errhint("Create it with mq.create_exchange().")));
	return xn->exchange;
}

const MqAcl *
mq_exchange_acl(text *exchange, const char **name)
{
	Exchange   *x = exchange_by_name(exchange);

	*name = x->name;
	return &x->acl;
}

/* names sorted, each once */
static List *
unique_names(List *names)
{
	List	   *unique = NIL;
	ListCell   *lc;

	list_sort(names, name_cmp);
	foreach(lc, names)
		if (unique == NIL || strcmp(llast(unique), lfirst(lc)) != 0)
			unique = lappend(unique, lfirst(lc));
	return unique;
}

List *
mq_route(text *exchange, text *routing_key, Jsonb *headers, List **streams_out)
{
	Exchange   *x;
	char	   *rk = text_to_cstring(routing_key);
	char	  **words;
	int			nwords;
	List	   *visited = NIL;
	List	   *queues = NIL;
	List	   *streams = NIL;

	x = exchange_by_name(exchange);
	mq_acl_check(&x->acl, "exchange", x->name, GetUserId(), MQ_PRIV_PUBLISH);
	if (strlen(rk) > MQ_KEY_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("routing key is too long"),
				 errdetail("The routing key is %zu bytes long, more than the limit of %d.",
						   strlen(rk), MQ_KEY_MAXLEN),
				 errhint("Routing and binding keys are at most %d bytes, as in AMQP.",
						 MQ_KEY_MAXLEN)));

	words = mq_split_words(rk, &nwords);
	route_exchange(x, rk, words, nwords, headers, &visited, &queues, &streams);

	/* unroutable: try the alternate exchanges, each at most once */
	while (queues == NIL && streams == NIL && x->alternate_allowed)
	{
		List	   *seen = NIL;

		x = exchange_by_id(x->alternate_id);
		if (x == NULL || list_member_int(visited, x->id))
			break;
		route_exchange(x, rk, words, nwords, headers, &seen, &queues, &streams);
		visited = lappend_int(visited, x->id);
	}

	*streams_out = unique_names(streams);
	return unique_names(queues);
}

/*
 * Count an unroutable message against its exchange (the plan goes with the
 * cache)
 */
void
mq_exchange_count_unroutable(text *exchange)
{
	Datum		arg = PointerGetDatum(exchange);
	int			ret;

	mq_spi_connect();
	if (unroutable_plan == NULL)
	{
		Oid			argtype = TEXTOID;

		unroutable_plan = mq_keep_plan("UPDATE mq._exchange_stats s"
									   " SET unroutable = s.unroutable OPERATOR(pg_catalog.+) 1"
									   " FROM mq._exchange e"
									   " WHERE e.exchange_id OPERATOR(pg_catalog.=) s.exchange_id"
									   " AND e.exchange_name OPERATOR(pg_catalog.=) $1",
									   1, &argtype);
	}
	ret = mq_execute_plan_as_owner(unroutable_plan, &arg, NULL, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}
