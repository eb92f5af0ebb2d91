"""Pacing shared by every worker: rate policies, their storage (memory or Redis) and the
limiter that tells a task to run now or come back after a countdown."""

from campaigns.pacing.limiter import Hold, Limiter, account_key, make_limiter
from campaigns.pacing.policy import Policy

__all__ = ["Hold", "Limiter", "Policy", "account_key", "make_limiter"]
