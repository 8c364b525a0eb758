EXTENSION = mq
EXTVERSION = 0.1.0

MODULE_big = mq
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
PG_CFLAGS = -Wall -Werror

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

TESTS = $(wildcard test/sql/*.sql)
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

EXTRA_CLEAN = test/results test/regression.diffs test/regression.out output_iso

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on every header: the structs are shared
$(OBJS): $(wildcard src/*.h)
