"""The simulated Mobizon account: its campaigns, messages and background tasks, and the
API methods of the Campaign, Message, TaskQueue and User modules acting on them.

Every method takes the request's parameters as parsed from the PHP-style form and returns
a ``Reply`` (the envelope's code, data and message). One lock guards the state; only the
configured ``add_latency`` of AddRecipients runs outside it, with the campaign marked as
being added to, so a second add arriving meanwhile gets code 10 as at Mobizon.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from campaigns.simulator import recipients as rcp
from campaigns.simulator import views
from campaigns.simulator.campaign import NOT_YET_SENT, SimCampaign, SimMessage, money
from campaigns.simulator.clock import SimClock
from campaigns.simulator.config import SimConfig
from campaigns.simulator.forms import as_int, as_list, as_text
from campaigns.simulator.listing import ListError, select_campaigns, select_messages
from campaigns.simulator.parameters import InvalidFields, campaign_fields
from campaigns.simulator.phones import digits_of, is_international
from campaigns.simulator.statefile import Saved, StateFile

MAX_STATUS_IDS = 100  # Message/GetSMSStatus: "maximum number of identifiers in one request - 100"
DELETE_BEFORE_START = 300.0  # Campaign/Delete: "not less than 5 minutes left till start"


@dataclass(frozen=True)
class Reply:
    code: int
    data: Any = None
    message: str = ""


class ApiError(Exception):
    """Ends a method with a non-zero envelope code."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.reply = Reply(code, data, message)


def _criteria(params: dict, key: str) -> list[Any]:
    """The ids a list request names in ``criteria[key]`` (none when malformed: the listing
    itself refuses those)."""
    criteria = params.get("criteria")
    if not isinstance(criteria, dict):
        return []
    try:
        return as_list(criteria.get(key))
    except (TypeError, ValueError):
        return []


def _invalid(fields: dict[str, str]) -> ApiError:
    return ApiError(1, "Invalid parameter values: " + ", ".join(fields), fields)


class MobizonSimulator:
    """One Mobizon account, simulated. Thread-safe."""

    def __init__(self, config: SimConfig | None = None, *, clock: SimClock | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = clock or SimClock(self.config.speed)
        self._lock = threading.RLock()
        self.state_file: StateFile | None = None
        self._reset_state()
        self.methods: dict[str, Callable[[dict], Reply]] = {
            "campaign/create": self.campaign_create,
            "campaign/addrecipients": self.campaign_add_recipients,
            "campaign/send": self.campaign_send,
            "campaign/get": self.campaign_get,
            "campaign/getinfo": self.campaign_get_info,
            "campaign/getlinks": self.campaign_get_links,
            "campaign/list": self.campaign_list,
            "campaign/delete": self.campaign_delete,
            "message/sendsmsmessage": self.message_send_sms,
            "message/getsmsstatus": self.message_get_sms_status,
            "message/list": self.message_list,
            "taskqueue/getstatus": self.task_get_status,
            "user/getownbalance": self.user_get_own_balance,
        }

    def _reset_state(self) -> None:
        self.campaigns: dict[int, SimCampaign] = {}
        self.messages: dict[int, SimMessage] = {}
        self.tasks: dict[int, rcp.ImportTask] = {}
        self._next_campaign = 1000
        self._next_message = 500_000
        self._next_task = 70
        self._blocks: dict[str, tuple[int, int]] = {}  # ids reserved in the state file: next, end

    # -- control ------------------------------------------------------------------------

    def configure(self, config: SimConfig) -> None:
        """Use ``config`` from now on (launched campaigns keep their timelines)."""
        with self._lock:
            if config.speed != self.clock.speed:
                self.clock.set_speed(config.speed)
            self.config = config

    def reset(self, config: SimConfig | None = None, *, clock: SimClock | None = None) -> None:
        """Forget every campaign, message and task; optionally switch configuration and clock."""
        with self._lock:
            self._reset_state()
            if clock is not None:
                self.clock = clock
            if config is not None:
                self.configure(config)

    # -- state kept between processes (campaigns.simulator.statefile) ------------------

    def attach(self, state_file: StateFile) -> None:
        """Take ids from ``state_file`` and adopt the campaigns saved there when asked about
        them; the clock never runs behind the time saved there."""
        with self._lock:
            self.state_file = state_file
            self._catch_up(state_file.latest_time())

    def _catch_up(self, saved_now: float) -> None:
        behind = saved_now - self.clock.now()
        if behind > 0:
            self.clock.advance(behind)

    def _next_id(self, kind: str, block: int) -> int:
        if self.state_file is None:
            name = f"_next_{kind}"
            setattr(self, name, getattr(self, name) + 1)
            return getattr(self, name)
        start, end = self._blocks.get(kind, (0, 0))
        if start >= end:
            start = self.state_file.reserve(kind, block)
            end = start + block
        self._blocks[kind] = (start + 1, end)
        return start

    def _adopt(self, campaign_ids: Iterable[Any]) -> None:
        """Take the campaigns among ``campaign_ids`` that this process does not know from
        the state file (another process saved them)."""
        if self.state_file is None:
            return
        unknown = set()
        for raw in campaign_ids:
            try:
                cid = as_int(raw)
            except ValueError:
                continue
            if cid is not None and cid not in self.campaigns:
                unknown.add(cid)
        if not unknown:
            return
        found, saved_now = self.state_file.take(unknown)
        if found:
            self._catch_up(saved_now)
        for saved in found:
            campaign = saved.campaign
            self.campaigns[campaign.id] = campaign
            self.messages.update((m.id, m) for m in campaign.messages)
            self.tasks.update((t.id, t) for t in saved.tasks)

    def save(self, keep: set[int] | None = None) -> None:
        """Save this process's campaigns to the state file (those in ``keep`` when given);
        does nothing without one."""
        if self.state_file is None:
            return
        with self._lock:
            now = self._now()
            tasks: dict[int, list] = {}
            for task in self.tasks.values():
                tasks.setdefault(task.campaign_id, []).append(task)
            chosen = [Saved(c, tasks.get(c.id, [])) for c in self.campaigns.values()
                      if not c.deleted and (keep is None or c.id in keep)]
            self.state_file.put(chosen, now, keep=keep)

    def call(self, name: str, params: dict[str, Any]) -> Reply:
        """Run API method ``name`` ("campaign/addrecipients", lower case)."""
        handler = self.methods[name]
        try:
            return handler(params)
        except ApiError as exc:
            return exc.reply

    @contextmanager
    def reading(self) -> Iterator[float]:
        """Hold the state still and give the simulated time (for inspection)."""
        with self._lock:
            yield self._now()

    # -- helpers ------------------------------------------------------------------------

    def _now(self) -> float:
        """The simulated time, with background imports that have ended applied."""
        now = self.clock.now()
        for task in self.tasks.values():
            if not task.applied and now >= task.end_ts:
                self._apply_task(task)
        return now

    def _campaign(self, params: dict, key: str = "id") -> SimCampaign:
        try:
            campaign_id = as_int(params.get(key))
        except ValueError:
            raise _invalid({key: "must be a campaign id"}) from None
        self._adopt([campaign_id])
        campaign = self.campaigns.get(campaign_id) if campaign_id is not None else None
        if campaign is None or campaign.deleted:
            raise ApiError(2, "Campaign not found")
        return campaign

    def _message_id(self) -> int:
        return self._next_id("message", 100_000)

    # -- Campaign/Create ----------------------------------------------------------------

    def _fields(self, data: dict, now: float) -> dict[str, Any]:
        try:
            return campaign_fields(data, now, self.config)
        except InvalidFields as exc:
            raise _invalid(exc.fields) from None

    def _new_campaign(self, fields: dict[str, Any], sender: str | None, now: float) -> SimCampaign:
        campaign = SimCampaign(id=self._next_id("campaign", 1), sender=sender or None, create_ts=now, **fields)
        self.campaigns[campaign.id] = campaign
        return campaign

    def campaign_create(self, params: dict) -> Reply:
        data = params.get("data")
        if not isinstance(data, dict):
            raise _invalid({"text": "The message text must not be empty"})
        with self._lock:
            now = self._now()
            fields = self._fields(data, now)
            campaign = self._new_campaign(fields, as_text(data.get("from")), now)
            return Reply(0, str(campaign.id))  # the live API answers with the id as a bare string

    # -- Campaign/AddRecipients ---------------------------------------------------------

    def campaign_add_recipients(self, params: dict) -> Reply:
        sources = [s for s in rcp.SOURCES if params.get(s) not in (None, "", {})]
        # "If you try to send several different types of recipients at once, the error 12"
        if len(sources) != 1:
            raise ApiError(12, "Send exactly one recipients source: " + ", ".join(rcp.SOURCES))
        source = sources[0]
        options = params.get("params") if isinstance(params.get("params"), dict) else {}
        try:
            replace = as_int(options.get("replace"), 0) == 1
            flag = as_int(options.get("placeholdersFlag"), 1)
        except ValueError as exc:
            raise _invalid({"params": str(exc)}) from None
        if flag not in (1, 2, 3):
            raise _invalid({"params[placeholdersFlag]": "must be 1, 2 or 3"})
        entries = as_list(params.get(source)) if source != "recipientsFile" else []
        if source in ("recipients", "recipientContacts") and len(entries) > rcp.MAX_RECIPIENTS:
            raise ApiError(12, f"At most {rcp.MAX_RECIPIENTS} recipients a request; nothing was added")
        with self._lock:
            now = self._now()
            campaign = self._campaign(params)
            if campaign.status(now) != "NEW" or campaign.locked(now):
                # "blocked by another recipients' adding process or campaign status doesn't allow"
                raise ApiError(10, "The campaign is being added to, or its status does not allow adding")
            if source in ("recipientsFile", "recipientGroups"):
                return self._start_import(campaign, source, params, flag, replace, now)
            campaign.adding = True
        try:
            # Reading the entries and checking their numbers needs no campaign: outside the
            # lock, so other campaigns' calls go on meanwhile.
            checked = rcp.check_entries(entries if source == "recipients" else [])
            if self.config.add_latency:
                time.sleep(self.config.add_latency)  # outside the lock: other calls go on meanwhile
            with self._lock:
                if replace:
                    self._clear_recipients(campaign)
                if source == "recipientContacts":
                    results = [rcp.contact_result(entry) for entry in entries]
                else:
                    results = self._add(campaign, checked, flag)
                campaign.rejected += sum(1 for r in results if r["code"] != 0)
        finally:
            with self._lock:
                campaign.adding = False
        code = rcp.envelope_code(results)
        return Reply(code, results, "" if code == 0 else "Not every recipient was added")

    def _add(self, campaign: SimCampaign, checked: rcp.Checked, flag: int) -> list[dict[str, Any]]:
        """Add checked entries to ``campaign`` (and the account's messages); their results."""
        results, messages = rcp.add_checked(campaign, checked, flag=flag, stop_list=self.config.stop_list,
                                            new_message_id=self._message_id)
        self.messages.update((message.id, message) for message in messages)
        return results

    def _clear_recipients(self, campaign: SimCampaign) -> None:
        for message in campaign.messages:
            self.messages.pop(message.id, None)
        campaign.messages.clear()
        campaign.by_phone.clear()
        campaign.rejected = 0

    def _start_import(self, campaign: SimCampaign, source: str, params: dict, flag: int, replace: bool,
                      now: float) -> Reply:
        entries: list[Any] = []
        if source == "recipientsFile":
            upload = params.get("recipientsFile")
            if not isinstance(upload, rcp.Upload):
                raise _invalid({"recipientsFile": "Upload the recipients as a file (multipart/form-data)"})
            options = params.get("params") if isinstance(params.get("params"), dict) else {}
            try:
                entries = rcp.read_recipients_file(upload, template=campaign.type == 3, params=options)
            except ValueError as exc:
                raise _invalid({"recipientsFile": str(exc)}) from None
        # recipientGroups: the simulator has no contact book, so the import adds nobody
        task = rcp.ImportTask(id=self._next_id("task", 100), campaign_id=campaign.id, created_ts=now,
                              end_ts=now + self.config.task_seconds, entries=entries, flag=flag, replace=replace)
        self.tasks[task.id] = task
        campaign.busy_until = task.end_ts
        return Reply(100, str(task.id), "A background task was started")

    def _apply_task(self, task: rcp.ImportTask) -> None:
        task.applied = True
        campaign = self.campaigns.get(task.campaign_id)
        if campaign is None or campaign.deleted:
            return
        if task.replace:
            self._clear_recipients(campaign)
        results = self._add(campaign, rcp.check_entries(task.entries), task.flag)
        campaign.rejected += sum(1 for r in results if r["code"] != 0)

    # -- Campaign/Send, Delete ----------------------------------------------------------

    def campaign_send(self, params: dict) -> Reply:
        with self._lock:
            now = self._now()
            campaign = self._campaign(params)
            if campaign.status(now) != "NEW" or campaign.locked(now) or not campaign.messages:
                raise ApiError(10, "The campaign's status could not be changed")
            campaign.launch(now, self.config)
            # "integer campaign status: 1 - moderation, 2 - sending", a bare integer on the wire
            return Reply(0, 1 if campaign.timeline.moderated else 2)

    def campaign_delete(self, params: dict) -> Reply:
        with self._lock:
            now = self._now()
            campaign = self._campaign(params)
            status = campaign.status(now)
            t = campaign.timeline
            too_late = status not in NOT_YET_SENT or campaign.locked(now)
            if not too_late and t is not None and campaign.deferred_ts is not None \
                    and t.start_ts - now < DELETE_BEFORE_START:
                too_late = True  # a postponed campaign needs 5 minutes left till start
            if too_late:
                raise ApiError(10, "The campaign cannot be deleted")
            campaign.deleted = True
            for message in campaign.messages:
                self.messages.pop(message.id, None)
            return Reply(0, True)

    # -- reads --------------------------------------------------------------------------

    def campaign_get(self, params: dict) -> Reply:
        with self._lock:
            now = self._now()
            return Reply(0, views.campaign_get(self._campaign(params), now))

    def campaign_get_info(self, params: dict) -> Reply:
        try:
            filled = as_int(params.get("getFilledTplCampaignText"), 0) == 1
        except ValueError:
            filled = str(params.get("getFilledTplCampaignText")).lower() == "true"
        with self._lock:
            now = self._now()
            return Reply(0, views.campaign_info(self._campaign(params), now, self.config, filled=filled))

    def campaign_get_links(self, params: dict) -> Reply:
        with self._lock:
            self._now()
            return Reply(0, views.campaign_links(self._campaign(params, "campaignId")))

    def campaign_list(self, params: dict) -> Reply:
        with self._lock:
            now = self._now()
            self._adopt(_criteria(params, "ids"))
            try:
                page, total = select_campaigns(self.campaigns.values(), params, now)
            except ListError as exc:
                raise ApiError(exc.code, str(exc), {exc.field: str(exc)}) from None
            items = [views.campaign_item(c, now, self.config) for c in page]
            return Reply(0, {"items": items, "totalItemCount": str(total)})

    # -- Message module -----------------------------------------------------------------

    def message_send_sms(self, params: dict) -> Reply:
        raw = as_text(params.get("recipient"), "") or ""
        text = as_text(params.get("text"), "") or ""
        errors = {}
        digits = digits_of(raw)
        if not raw.strip():
            errors["recipient"] = "The recipient's number is required"
        elif not is_international(digits):
            errors["recipient"] = "The number is not in international format"
        elif digits in self.config.stop_list:
            errors["recipient"] = "The number is in the stop-list"
        if not text.strip():
            errors["text"] = "The message text must not be empty"
        options = params.get("params") if isinstance(params.get("params"), dict) else {}
        with self._lock:
            now = self._now()
            data = {k: options[k] for k in ("name", "deferredToTs", "mclass", "validity") if k in options}
            data.update(type="1", text=text or "-")
            try:
                fields = campaign_fields(data, now, self.config, within="params")
            except InvalidFields as exc:
                errors.update(exc.fields)
            if errors:
                raise _invalid(errors)
            campaign = self._new_campaign(fields, as_text(params.get("from")), now)
            result = self._add(campaign, rcp.check_entries([digits]), 1)[0]
            campaign.launch(now, self.config)
            return Reply(0, {
                "campaignId": str(campaign.id),
                "messageId": result["messageId"],
                "status": 1 if campaign.timeline.moderated else 2,
            })

    def message_get_sms_status(self, params: dict) -> Reply:
        ids = as_list(params.get("ids"))
        if not ids:
            raise ApiError(2, "No message ids were given")
        if len(ids) > MAX_STATUS_IDS:
            raise ApiError(12, f"At most {MAX_STATUS_IDS} message ids a request")
        with self._lock:
            now = self._now()
            out = []
            for raw in ids:
                try:
                    message = self.messages.get(as_int(raw))
                except ValueError:
                    message = None
                if message is not None:  # unknown or foreign ids are left out, not refused
                    out.append(views.sms_status(self.campaigns[message.campaign_id], message, now))
            return Reply(0, out)

    def message_list(self, params: dict) -> Reply:
        try:
            wanted = as_int(params.get("withNumberInfo"), 0) == 1
        except ValueError:
            wanted = False
        with self._lock:
            now = self._now()
            self._adopt(_criteria(params, "campaignIds"))
            try:
                page, total = select_messages(self.campaigns, self.messages, params, now)
            except ListError as exc:
                raise ApiError(exc.code, str(exc), {exc.field: str(exc)}) from None
            items = [views.message_item(c, m, now, self.config, number_info_wanted=wanted) for c, m in page]
            return Reply(0, {"items": items, "totalItemCount": str(total)})

    # -- TaskQueue, User ----------------------------------------------------------------

    def task_get_status(self, params: dict) -> Reply:
        with self._lock:
            now = self._now()
            try:
                task = self.tasks.get(as_int(params.get("id")))
            except ValueError:
                task = None
            if task is None:
                # the live API answers an unknown task id with code 11 ("id is invalid")
                raise ApiError(11, "Parameter id is invalid for this module and method")
            status, progress = task.status(now)
            return Reply(0, {"id": str(task.id), "status": status, "progress": progress})

    def user_get_own_balance(self, params: dict) -> Reply:
        with self._lock:
            self._now()
            spent = sum(c.cost(self.config) for c in self.campaigns.values() if c.timeline is not None)
            return Reply(0, {"balance": money(self.config.balance - spent), "currency": self.config.currency})

    # -- inspection (campaigns.simulator.inspection) -----------------------------------

    def summary(self) -> dict[str, Any]:
        """The clock, every campaign without its recipients, and the background tasks."""
        from campaigns.simulator import inspection

        return inspection.summary(self)

    def inspect_campaign(self, campaign_id: int) -> dict[str, Any] | None:
        """One campaign with each phone's added/sent counts (None when unknown)."""
        from campaigns.simulator import inspection

        return inspection.campaign_detail(self, campaign_id)
