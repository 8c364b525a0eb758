EXTENSION = mq
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" mq.control)

MODULE_big = mq
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# in this order: later suites see the queues and ids earlier ones left
REGRESS = queue_compact queue_delivery errors exchange_routing \
	queue_guarantees guc queue_hints queue_limits nulls queue_basics security \
	queue_storage stream_groups stream_retention stream_basics triggers
ifneq ($(sort $(REGRESS)),$(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql))))
$(error REGRESS in the Makefile does not list exactly the files of test/sql)
endif
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

# TAP suites (crash, replication, workers): each starts its own clusters
TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

EXTRA_CLEAN = results regression.diffs regression.out output_iso \
	tmp_check tmp_check_iso log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on every header: the structs are shared
$(OBJS): $(wildcard src/*.h)

# make dist: the source tarball PGXN takes
dist:
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(EXTENSION)-$(EXTVERSION).zip HEAD
