"""mq_client: the Python client of mq, the message broker inside PostgreSQL.

    from mq_client import Client

    client = Client("dbname=app")
    client.create_queue("orders", max_receives=5, dead_letter_queue="orders_dead")
    client.send("orders", {"order": 42})
    client.work("orders", lambda message: print(message.body), concurrency=8)
"""
from ._events import Counters, Event
from ._sql import Json, Message, Record
from .aio import AsyncClient
from .client import Client, Transaction
from .errors import ConnectionLost, MQError, RequestTimeout
from .producer import Producer
from .stream import StreamConsumer
from .worker import Worker

__version__ = "0.8.0"

__all__ = ["AsyncClient", "Client", "ConnectionLost", "Counters", "Event", "Json", "MQError",
           "Message", "Producer", "Record", "RequestTimeout", "StreamConsumer", "Transaction",
           "Worker", "__version__"]
