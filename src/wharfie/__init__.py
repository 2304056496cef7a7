"""wharfie: a daemonless Docker/OCI image toolkit."""

__version__ = "0.1.0"
