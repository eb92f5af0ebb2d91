"""campaigns: bulk SMS campaigns through the providers' HTTP APIs.

``from campaigns import submit_campaign`` is the in-process call (campaigns.inprocess);
importing the package builds nothing.
"""

__version__ = "0.1.0"
__all__ = ["submit_campaign"]


def __getattr__(name: str):
    if name == "submit_campaign":
        from campaigns.inprocess import submit_campaign

        return submit_campaign
    raise AttributeError(f"module 'campaigns' has no attribute {name!r}")
