"""Build the Dramatiq broker the settings ask for; nothing connects at import time."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage

from indexflow.errors import ConfigurationError
from indexflow.observability.metrics import DramatiqMetrics
from indexflow.settings import Settings


def make_broker(settings: Settings) -> dramatiq.Broker:
    """In-process (StubBroker) when no broker URL is set; Redis or RabbitMQ otherwise.

    RabbitMQ publishes with confirms so a message is on disk before ``send`` returns; Redis
    requeues the unacked messages of a dead worker (Dramatiq's heartbeat-based requeue).
    """
    url = settings.broker_url
    if not url:
        from dramatiq.brokers.stub import StubBroker

        broker: dramatiq.Broker = StubBroker()
    elif url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        # RedisBroker.__init__ is the one unannotated broker constructor in dramatiq.
        broker = RedisBroker(url=url, namespace="indexflow")  # type: ignore[no-untyped-call]
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    else:
        raise ConfigurationError(f"unsupported broker URL {url!r}: use redis://… or amqp://…")
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(DramatiqMetrics())  # indexflow_dramatiq_* (observability/metrics.py)
    return broker
