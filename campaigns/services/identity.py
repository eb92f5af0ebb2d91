"""Before adding recipients: the provider's campaign is the one created for ours.

A provider campaign id is only a number; if it ever named another campaign (a sandbox that
forgot its campaigns and numbered a new one the same, a campaign deleted at the provider),
adding to it would send one campaign's recipients in another. So each add turn first asks
the provider about the campaign (the port's optional ``check_campaign``) and fails ours with
the reason when it is not the one we created.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from campaigns.domain import CampaignState
from campaigns.providers.errors import ProviderError, WrongCampaign
from campaigns.providers.port import Provider
from campaigns.services.create import spec_of
from campaigns.services.moves import move_campaign, utcnow
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork

S = CampaignState


def confirm_provider_campaign(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    *,
    now: datetime | None = None,
) -> bool:
    """True when chunks may be added: the provider confirmed the campaign, cannot check it
    (no ``check_campaign``, or no server-side campaigns), or could not be asked (a temporary
    error: the add meets it too and retries). False when the provider's campaign is not ours:
    the campaign is then ``failed`` with the reason. Raises only on database errors."""
    check = getattr(provider, "check_campaign", None)
    if check is None or not provider.server_side_campaigns:
        return True
    with uow_factory() as uow:
        campaign = uow.session.get(Campaign, campaign_id)
        if campaign is None or campaign.state != S.ADDING.value or not campaign.provider_campaign_id:
            return True  # nothing to add to yet: the add path decides
        provider_id, spec = campaign.provider_campaign_id, spec_of(campaign)
    try:
        check(provider_id, spec)
    except WrongCampaign as exc:
        with uow_factory() as uow:
            move_campaign(
                uow.session, campaign_id, [S.ADDING], S.FAILED, now or utcnow(), claimed_at=None,
                error=(f"stopped before adding more recipients: {exc.message}. The recipients not added yet "
                       "were never sent; submit the file again to send them."),
            )
            uow.commit()
        return False
    except ProviderError:
        return True
    return True
