"""Where a recipient file comes from: a path, ``file:``, ``s3://`` or ``https://``.

::

    with fetch_source(source, settings, workdir=tmp) as fetched:
        ingest(fetched.path, ...)     # fetched.name labels it, fetched.size in bytes

``describe_source(source)`` is the form to log. Every failure is a ``SourceError``
(a ``ValueError``) whose ``temporary`` says whether to retry later.

Modules: ``describe`` (kinds of source, the safe shown form), ``local``, ``s3``, ``web``
(one per kind, each translating its library's errors), ``fetch`` (the entry point and
the temporary files), ``errors``.
"""

from campaigns.sources.describe import describe_source
from campaigns.sources.errors import SourceError
from campaigns.sources.fetch import Fetched, fetch_source

__all__ = ["Fetched", "SourceError", "describe_source", "fetch_source"]
