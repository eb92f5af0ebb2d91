"""campaigns: bulk SMS campaigns through the providers' HTTP APIs."""

__version__ = "0.1.0"
