"""An asyncio worker process for the SIGTERM test: prints each message it
handled."""
import asyncio
import sys

import helpers  # noqa: F401  (the package path)
from mq_client import AsyncClient


async def handle(message):
    await asyncio.sleep(0.3 if message.body["n"] % 7 == 0 else 0.01)
    sys.stdout.write(f"handled {message.body['n']}\n")
    sys.stdout.flush()


async def main():
    async with AsyncClient() as client:
        counters = await client.work(sys.argv[1], handle, 4, wait=0.5, visibility_timeout=60)
    print("stopped", counters.as_dict(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
