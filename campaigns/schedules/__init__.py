"""Recurring campaigns (issue 13): schedules that fire a campaign from a source on a cron
rhythm in a time zone, exactly once per fire time.

- ``cron``: parsing and iterating fire times (croniter over local wall-clock times,
  placed in the zone by zoneinfo with ``fold=0``).
- ``manage``: add, list, show, edit, pause, resume, delete; runs and next fire times.
- ``fire``: the periodic job's work (record due fires with their campaigns, skipped runs,
  approval timeouts) and the ``fire`` step that reads a run's source into its campaign.
- ``exclusion``: recipients this schedule already sent to within N days.
- ``headers``: source headers kept encrypted at rest.
"""
