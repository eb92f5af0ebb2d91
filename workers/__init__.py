"""The pipeline's runtime: the Celery app, its tasks, the dispatcher and the embedded runner.

Nothing here builds anything at import time: ``make_celery(settings)`` is called by
``campaigns worker`` / ``campaigns beat``, and ``EmbeddedRunner`` by ``campaigns submit``
when no broker is configured.
"""
