"""The process's Redis client: one connection pool per URL that survives a dropped connection."""

import functools

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry


@functools.cache
def redis_client(url: str) -> redis.Redis:
    """Return the shared client of a Redis URL (REDIS_URL), made once per process.

    redis-py's clients made by from_url() do not retry by default, so a connection Redis dropped
    (a restart, a network blip, CLIENT KILL) failed the next command, and a send task with it. This
    one reconnects and retries for about a second first. What we send is safe to repeat: a send
    slot booked twice only wastes a slot (the rate is never exceeded), a tracking hit carries its
    own id, a rate-limit count may count one request twice, and metrics may count one flush twice.
    """
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=4),
        socket_connect_timeout=2,
        socket_timeout=10,
        # A connection idle this long is checked before use rather than found dead by a command.
        health_check_interval=30,
    )
