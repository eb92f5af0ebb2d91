"""The HTTP service (``campaigns serve``): the API for other applications, and the home of
the delivery callbacks, the dashboard and the metrics.

``create_app(settings)`` (campaigns.web.app) builds the FastAPI application; everything
that holds a connection is made in its lifespan and hung on ``app.state``. Routes live one
module per resource in ``campaigns.web.routes`` and stay thin over the services.
"""
