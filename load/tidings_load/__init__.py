"""Locust load suites for Tidings: a SignalR-over-WebSocket client, JWT minting and load statistics.

Import ``tidings_load.locust_support`` (it imports Locust, which monkey-patches the standard library
for gevent) before opening connections; ``framing``, ``tokens`` and ``stats`` are pure and usable alone.
"""

__version__ = "0.1.0"
