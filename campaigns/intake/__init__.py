"""The watched bucket (issue 12): recipient files dropped in a folder or an S3 prefix
become campaigns, each taken exactly once, with the results written beside it.

::

    scan_locations(settings, uow_factory)        the periodic job: list, claim, Next("drop")
      └── advance_drop(drop_id, ...)             the step: take it (submit), move it,
                                                 follow its campaign, write the report
    drops_by_location(settings, uow_factory)     what ``campaigns watch --list`` shows

Modules: ``locations`` (CAMPAIGNS_WATCH parsed; the storage port), ``local`` and ``s3``
(the two storages), ``listing`` (what in a listing is a drop, a manifest, settling or
ignored), ``manifest`` (the campaign's settings from the manifests), ``claims`` (the
drops table: claim, lease, compare-and-set moves), ``scan``, ``take``, ``results``
(the result files' names and contents), ``overview``.
"""
