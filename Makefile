# mq, and mq_cluster: the mq API in a PL/Proxy database over mq nodes
# (doc/cluster.md; its script is sql/mq_cluster--*.sql, as written), and
# pgmq: pgmq's API on mq queues (doc/pgmq.md; sql/pgmq--*.sql, as written)
EXTENSION = mq mq_cluster pgmq
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" mq.control)

MODULE_big = mq
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))

# SQL scripts (src/README.md, "SQL sources").  The install script of the
# current version and the update script to it are built from one source per
# definition: the catalog (install only), the delta of the update (changes to
# tables), and the definitions files, which both scripts run.  The released
# scripts (0.1.0 and the updates up to 0.7.0) are frozen, as shipped.
SQL_DEFS = $(addprefix sql/src/,common.sql queue.sql exchange.sql stream.sql \
	privilege.sql maintain.sql metrics.sql trigger.sql)
SQL_UPDATES = $(wildcard sql/updates/*--$(EXTVERSION).sql)
# the last step of an update, after the definitions (if it has one)
SQL_AFTER = $(wildcard sql/updates/*--$(EXTVERSION).after.sql)
DATA_built = sql/mq--$(EXTVERSION).sql \
	$(patsubst sql/updates/%,sql/mq--%,$(SQL_UPDATES))
DATA = $(filter-out $(DATA_built),$(wildcard sql/mq--*.sql)) $(wildcard sql/mq_cluster--*.sql) \
	$(wildcard sql/pgmq--*.sql)

# in this order: later suites see the queues and ids earlier ones left
REGRESS = queue_compact queue_delivery errors exchange_routing \
	queue_guarantees guc queue_hints queue_limits nulls queue_basics security \
	queue_storage stream_groups stream_retention stream_basics triggers \
	role_limits security_links intervals stream_savepoints durability queue_payloads queue_peek security_triggers stream_payloads extension pgmq pgmq_migrate
# (not when the command line sets REGRESS, as the test command does)
ifeq ($(origin REGRESS),file)
ifneq ($(sort $(REGRESS)),$(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql))))
$(error REGRESS in the Makefile does not list exactly the files of test/sql)
endif
endif
REGRESS_OPTS = --inputdir=test --load-extension=mq

ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --load-extension=mq

# TAP suites (crash, replication, workers): each starts its own clusters
TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

EXTRA_CLEAN = results regression.diffs regression.out output_iso \
	tmp_check tmp_check_iso log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# the body of a built script: each source after a line that names it
sql_sources = for f in $(filter %.sql,$^); do printf '\n/* ---- %s ---- */\n\n' $$f; cat $$f; done

# sql/mq--<version>.sql: the catalog, then every definition
sql/mq--$(EXTVERSION).sql: sql/src/catalog.sql $(SQL_DEFS)
	{ printf '%s\n\n' "/* $(notdir $@): mq $(EXTVERSION), built by make from sql/src/ (do not edit) */"; \
	  printf '%s\n' "\echo Use \"CREATE EXTENSION mq\" to load this file. \quit"; \
	  $(sql_sources); } > $@

# sql/mq--<old>--<version>.sql: the delta (sql/updates/), then every definition
sql/mq--%--$(EXTVERSION).sql: sql/updates/%--$(EXTVERSION).sql $(SQL_DEFS) $(SQL_AFTER)
	{ printf '%s\n\n' "/* $(notdir $@): mq $* to $(EXTVERSION), built by make from sql/updates/ and sql/src/ (do not edit) */"; \
	  printf '%s\n' "\echo Use \"ALTER EXTENSION mq UPDATE TO '$(EXTVERSION)'\" to load this file. \quit"; \
	  for f in $(filter-out $(SQL_AFTER),$(filter %.sql,$^)) \
	           $(wildcard sql/updates/$*--$(EXTVERSION).after.sql); do \
	    printf '\n/* ---- %s ---- */\n\n' $$f; cat $$f; done; } > $@

# every object depends on every header: the structs are shared
$(OBJS): $(wildcard src/*.h)

# make dist: the source tarball PGXN takes
dist:
	git archive --format zip --prefix=mq-$(EXTVERSION)/ -o mq-$(EXTVERSION).zip HEAD
