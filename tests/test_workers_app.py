"""The Celery app's configuration, the dispatcher against a real Redis, and log redaction."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timezone

import pytest

from campaigns.services.next import Next
from campaigns.settings import Settings
from tests import services
from campaigns import log_redaction
from workers import constants
from workers.app import BrokerNotConfigured, make_celery
from workers.dispatch import CeleryDispatcher, capped


def test_make_celery_needs_a_broker():
    with pytest.raises(BrokerNotConfigured):
        make_celery(Settings())


def test_configuration_is_what_reliability_needs():
    # Given settings with a broker and a fast poll
    settings = Settings(broker_url="redis://127.0.0.1:6379/15", poll_seconds=0.5)
    # When the app is built
    app = make_celery(settings)
    try:
        conf = app.conf
        # Then messages are JSON only, acknowledged late, requeued when a worker dies, one at a time
        assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
        assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
        assert conf.worker_prefetch_multiplier == 1
        assert conf.task_ignore_result is True
        # and a task waiting for the longest countdown is never redelivered to a second worker
        assert conf.broker_transport_options["visibility_timeout"] > constants.MAX_COUNTDOWN * 2
        # and the beat ticks every poll interval, on its own queue
        tick = conf.beat_schedule["tick"]
        assert tick["task"] == constants.TASK_TICK and tick["schedule"] == 0.5
        assert tick["options"]["queue"] == constants.QUEUE_TICK
        # and every step a service can return has a task
        for name in (*constants.TASK_FOR_ACTION.values(), constants.TASK_TICK):
            assert name in app.tasks
    finally:
        app.close()


def test_capped_countdowns_stay_within_the_visibility_timeout():
    assert capped(-3) == 0.0
    assert capped(12.5) == 12.5
    assert capped(10**9) == constants.MAX_COUNTDOWN < constants.VISIBILITY_TIMEOUT


@pytest.mark.redis
def test_dispatcher_sends_ids_only_as_json_with_a_capped_countdown():
    import redis

    url = services.redis_url().rsplit("/", 1)[0] + "/10"  # a database only this test uses (flushed)
    client = redis.Redis.from_url(url)
    client.flushdb()
    app = make_celery(Settings(broker_url=url))
    try:
        # When a step with a huge countdown and one without are dispatched
        dispatcher = CeleryDispatcher(app)
        dispatcher.schedule(Next("add", 42))
        dispatcher.schedule(Next("launch", 43, countdown=10**6))
        # Then both wait in the work queue as JSON messages carrying the campaign id only
        raw = client.lrange(constants.QUEUE_WORK, 0, -1)
        messages = sorted((json.loads(m) for m in raw), key=lambda m: m["headers"]["task"])
        assert [m["headers"]["task"] for m in messages] == [constants.TASK_ADD, constants.TASK_LAUNCH]
        assert all(m["content-type"] == "application/json" for m in messages)
        bodies = [json.loads(__import__("base64").b64decode(m["body"])) for m in messages]
        assert [b[0] for b in bodies] == [[42], [43]] and all(b[1] == {} for b in bodies)
        # and the countdown was capped
        assert messages[0]["headers"]["eta"] is None
        eta = datetime.fromisoformat(messages[1]["headers"]["eta"])
        wait = (eta - datetime.now(timezone.utc)).total_seconds()
        assert constants.MAX_COUNTDOWN - 60 < wait <= constants.MAX_COUNTDOWN
    finally:
        app.close()
        client.flushdb()
        client.close()


@pytest.mark.redis
def test_dispatcher_tells_whether_a_task_waits_for_a_worker():
    import redis

    url = services.redis_url().rsplit("/", 1)[0] + "/10"  # a database only this test uses (flushed)
    client = redis.Redis.from_url(url)
    client.flushdb()
    app = make_celery(Settings(broker_url=url))
    try:
        dispatcher = CeleryDispatcher(app)
        # Given empty queues, nobody waits
        assert dispatcher.waiting() is False
        # When a step is dispatched, it waits in the work queue
        dispatcher.schedule(Next("add", 42))
        assert dispatcher.waiting() is True
        # and a tick waiting alone counts too
        client.delete(constants.QUEUE_WORK)
        client.lpush(constants.QUEUE_TICK, b"{}")
        assert dispatcher.waiting() is True
    finally:
        app.close()
        client.flushdb()
        client.close()


def test_log_records_are_redacted_message_arguments_and_tracebacks():
    # Given a logger whose handler carries the redacting filter
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    log_redaction.install_on_handlers(logger)
    try:
        # When a URL with the key is logged as an argument and inside an exception
        url = "https://api.mobizon.kz/service/campaign/list?output=json&api=v1&apiKey=kz12345secretkey"
        logger.warning("POST %s failed", url)
        try:
            raise RuntimeError(f"boom at {url}")
        except RuntimeError:
            logger.exception("step failed")
    finally:
        logger.removeHandler(handler)
    # Then the key appears nowhere, while the rest of the text does
    text = stream.getvalue()
    assert "kz12345secretkey" not in text
    assert "apiKey=***" in text and "boom at" in text and "step failed" in text
