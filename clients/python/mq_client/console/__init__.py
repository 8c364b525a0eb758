"""The web console of mq: ``mqctl console`` or ``python -m mq_client.console``.

``add_arguments(parser)`` adds its options to an argparse parser;
``run(dsn, args)`` serves until interrupted and returns the exit status.
"""
from ._server import DEFAULT_LISTEN, add_arguments, run, serve

__all__ = ["DEFAULT_LISTEN", "add_arguments", "run", "serve"]
