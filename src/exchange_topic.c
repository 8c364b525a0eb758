/*-------------------------------------------------------------------------
 *
 * exchange_topic.c
 *	  The trie of topic binding keys, and matching a routing key against
 *	  it in time linear in the key, whatever the patterns.
 *
 * Keys are words separated by '.' (empty words count; an empty key has no
 * words); in a binding key '*' matches exactly one word and '#' zero or
 * more words.  Literal children of a node are sorted, so a match costs a
 * binary search per word and level, not a look at every binding.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "exchange_topic.h"

PG_FUNCTION_INFO_V1(mq_topic_matches_sql);

/* a node of the topic trie: the words of binding keys, one per level */
struct MqTopicNode
{
	char	   *word;
	int			hash_id;		/* '#' or below one: index in a walk's memo, else -1 */
	List	   *children_list;	/* while building */
	int			nchildren;		/* literal children, sorted by word */
	struct MqTopicNode **children;
	struct MqTopicNode *star;	/* '*' child */
	struct MqTopicNode *hash;	/* '#' child */
	int			hash_nodes;		/* the root: how many nodes have a hash_id */
	List	   *payloads;		/* what the keys that end here stand for */
};

static int
topic_node_cmp(const void *a, const void *b)
{
	return strcmp((*(MqTopicNode *const *) a)->word,
				  (*(MqTopicNode *const *) b)->word);
}

/*
 * Split a key into words on '.'.  An empty key has no words; empty words
 * are kept ("a..b" has three).  The words are palloc'd copies.
 */
char **
mq_split_words(const char *key, int *nwords)
{
	int			n = 1;
	const char *p;
	char	  **words;
	char	   *copy;
	int			i = 0;

	if (*key == '\0')
	{
		*nwords = 0;
		return NULL;
	}
	for (p = key; *p; p++)
		if (*p == '.')
			n++;
	words = palloc(sizeof(char *) * n);
	copy = pstrdup(key);
	words[i++] = copy;
	for (; *copy; copy++)
		if (*copy == '.')
		{
			*copy = '\0';
			words[i++] = copy + 1;
		}
	*nwords = n;
	return words;
}

static MqTopicNode *
topic_node_new(const char *word)
{
	MqTopicNode  *node = palloc0(sizeof(MqTopicNode));

	node->word = word ? pstrdup(word) : NULL;
	return node;
}

/* Add key (a binding key) to the trie at root, standing for payload. */
void
mq_topic_insert(MqTopicNode *root, const char *key, void *payload)
{
	int			nwords;
	char	  **words = mq_split_words(key, &nwords);
	MqTopicNode  *node = root;
	int			i;

	for (i = 0; i < nwords; i++)
	{
		MqTopicNode **slot = NULL;
		MqTopicNode  *next = NULL;
		ListCell   *lc;

		/* "#.#" matches what "#" matches */
		if (i > 0 && strcmp(words[i], "#") == 0 && strcmp(words[i - 1], "#") == 0)
			continue;
		if (strcmp(words[i], "*") == 0)
			slot = &node->star;
		else if (strcmp(words[i], "#") == 0)
			slot = &node->hash;
		if (slot)
		{
			if (*slot == NULL)
				*slot = topic_node_new(words[i]);
			node = *slot;
			continue;
		}
		foreach(lc, node->children_list)
		{
			MqTopicNode  *child = lfirst(lc);

			if (strcmp(child->word, words[i]) == 0)
			{
				next = child;
				break;
			}
		}
		if (next == NULL)
		{
			next = topic_node_new(words[i]);
			node->children_list = lappend(node->children_list, next);
		}
		node = next;
	}
	node->payloads = lappend(node->payloads, payload);
}

/*
 * Turn every node's list of children into a sorted array, and number the
 * nodes at or below a '#' (below_hash) from *nhash on.
 */
static void
topic_finish(MqTopicNode *node, bool below_hash, int *nhash)
{
	ListCell   *lc;
	int			i = 0;

	if (node == NULL)
		return;
	below_hash = below_hash || (node->word && strcmp(node->word, "#") == 0);
	node->hash_id = below_hash ? (*nhash)++ : -1;
	node->nchildren = list_length(node->children_list);
	node->children = palloc(sizeof(MqTopicNode *) * (node->nchildren + 1));
	foreach(lc, node->children_list)
	{
		node->children[i++] = lfirst(lc);
		topic_finish(lfirst(lc), below_hash, nhash);
	}
	qsort(node->children, node->nchildren, sizeof(MqTopicNode *), topic_node_cmp);
	topic_finish(node->star, below_hash, nhash);
	topic_finish(node->hash, below_hash, nhash);
}

/* An empty trie: the root, which stands for no word. */
MqTopicNode *
mq_topic_new(void)
{
	return topic_node_new(NULL);
}

/* Ready the trie at root for matching, once every key is in. */
void
mq_topic_finish(MqTopicNode *root)
{
	root->hash_nodes = 0;
	topic_finish(root, false, &root->hash_nodes);
}

/*
 * One match of a routing key against a trie.  A state is (node, i): the
 * words before i are matched by the path to node.  Without '#' a node is
 * met only at i = its depth; below a '#' one node can be met at many i, by
 * many paths, so those states are remembered (seen: hash_nodes x (nwords +
 * 1) bits) and each is walked once.  The walk is then linear in the number
 * of such states, whatever the pattern: "#.#.#.x" against 60 words does not
 * backtrack.
 */
typedef struct TopicWalk
{
	char	  **words;
	int			nwords;
	int			hash_nodes;
	uint8	   *seen;			/* allocated at the first '#' */
	List	   *out;			/* payloads of the keys that match (each once) */
} TopicWalk;

static void
topic_walk(TopicWalk *w, MqTopicNode *node, int i)
{
	if (node->hash_id >= 0)
	{
		int			bit = node->hash_id * (w->nwords + 1) + i;

		if (w->seen == NULL)
			w->seen = palloc0((w->hash_nodes * (w->nwords + 1) + 7) / 8);
		if (w->seen[bit / 8] & (1 << (bit % 8)))
			return;
		w->seen[bit / 8] |= 1 << (bit % 8);
	}
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();

	if (i == w->nwords)
		w->out = list_concat(w->out, node->payloads);
	else
	{
		if (node->nchildren > 0)
		{
			MqTopicNode	key;
			MqTopicNode  *keyp = &key;
			MqTopicNode **found;

			key.word = w->words[i];
			found = bsearch(&keyp, node->children, node->nchildren,
							sizeof(MqTopicNode *), topic_node_cmp);
			if (found)
				topic_walk(w, *found, i + 1);
		}
		if (node->star)
			topic_walk(w, node->star, i + 1);
		/* a '#' takes one more word and stays */
		if (node->word && strcmp(node->word, "#") == 0)
			topic_walk(w, node, i + 1);
	}
	/* a '#' child starts by taking no word */
	if (node->hash)
		topic_walk(w, node->hash, i);
}

/*
 * The payloads of the keys in the trie at root (finished) that match words,
 * each once per key.
 */
List *
mq_topic_match(MqTopicNode *root, char **words, int nwords)
{
	TopicWalk	w;

	w.words = words;
	w.nwords = nwords;
	w.hash_nodes = root->hash_nodes;
	w.seen = NULL;
	w.out = NIL;
	topic_walk(&w, root, 0);
	if (w.seen)
		pfree(w.seen);
	return w.out;
}

/*
 * Does key match pattern?  Builds a one-binding trie: for tests
 * (mq._topic_matches), and the reference for the cached tries.
 */
static bool
topic_matches(const char *pattern, const char *key)
{
	MqTopicNode *root = mq_topic_new();
	int			nwords;
	char	  **words;

	mq_topic_insert(root, pattern, (void *) pattern);
	mq_topic_finish(root);
	words = mq_split_words(key, &nwords);
	return mq_topic_match(root, words, nwords) != NIL;
}

/* mq._topic_matches(pattern text, routing_key text) returns bool */
Datum
mq_topic_matches_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(topic_matches(text_to_cstring(PG_GETARG_TEXT_PP(0)),
								 text_to_cstring(PG_GETARG_TEXT_PP(1))));
}
