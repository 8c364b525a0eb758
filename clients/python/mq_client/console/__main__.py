"""``python -m mq_client.console --dsn DSN [--listen HOST:PORT]``."""
import argparse
import logging
import sys

from . import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mq_client.console",
        description="The web console of mq, the message broker inside PostgreSQL.")
    parser.add_argument("--dsn", default="",
                        help="libpq connection string or URI (default: the PG* variables)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    return run(args.dsn, args)


if __name__ == "__main__":
    sys.exit(main())
