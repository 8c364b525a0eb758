"""The outbox pattern with SQLAlchemy: the ORM write and the message commit
or roll back together, because mq.send runs in the session's transaction."""
import json

from sqlalchemy import Column, Integer, Numeric, String, text
from sqlalchemy.orm import Session, declarative_base

Base = declarative_base()


class Order(Base):
    __tablename__ = "example_orders"
    id = Column(Integer, primary_key=True)
    customer = Column(String, nullable=False)
    total = Column(Numeric, nullable=False)


def place_order(session: Session, order: Order):
    """Save the order and announce it, atomically."""
    session.add(order)
    session.flush()  # the row exists in this transaction; now the message
    session.execute(
        text("SELECT mq.send(:queue, CAST(:body AS jsonb), dedup_key => :key)"),
        {"queue": "orders_placed", "key": f"order-{order.id}",
         "body": json.dumps({"order_id": order.id, "customer": order.customer,
                             "total": str(order.total)})})
