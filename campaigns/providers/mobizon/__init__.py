"""Mobizon: the client of its Campaign and Message modules and the provider adapter.

    wire           PHP-bracket form encoding
    codes          envelope codes -> exceptions; per-recipient codes -> meanings
    types          typed results, parsed leniently
    checks         Create's parameters checked before the call (InvalidCampaign)
    transport      one call: URL and key, envelope, error mapping, the code 13 switch
    client         MobizonClient, one method per API method
    adapter        MobizonProvider (the provider port), mobizon_provider_from_settings
"""

from campaigns.providers.mobizon.adapter import MobizonProvider, mobizon_provider_from_settings
from campaigns.providers.mobizon.checks import InvalidCampaign
from campaigns.providers.mobizon.client import MobizonClient

__all__ = ["InvalidCampaign", "MobizonClient", "MobizonProvider", "mobizon_provider_from_settings"]
