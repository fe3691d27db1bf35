"""Resource Graph's per-user quota: each principal may send `graph_quota` queries (default 15) in a window of
`graph_quota_window_seconds` (default 5) that starts with its first query; every answer says what is left in
`x-ms-user-quota-remaining` and when the window ends in `x-ms-user-quota-resets-after` (hh:mm:ss); a query beyond
the quota gets 429 RateLimiting (Microsoft: "Guidance for throttled requests in Azure Resource Graph").
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass
class GraphQuota:
    settings: dict
    windows: dict[str, _Window] = field(default_factory=dict)   # principal oid -> its current window

    @property
    def limit(self) -> int:
        return int(self.settings.get("graph_quota", 15))

    @property
    def window(self) -> float:
        return float(self.settings.get("graph_quota_window_seconds", 5))

    def take(self, principal: str) -> tuple[bool, dict[str, str]]:
        """(whether the query may run, the quota headers of its answer); counts the query when it may."""
        now = time.monotonic()
        current = self.windows.get(principal)
        if current is None or now >= current.started + self.window:
            current = self.windows[principal] = _Window(now)
        allowed = current.used < self.limit
        if allowed:
            current.used += 1
        left = max(0.0, current.started + self.window - now)
        seconds = math.ceil(left)
        headers = {"x-ms-user-quota-remaining": str(self.limit - current.used),
                   "x-ms-user-quota-resets-after": f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"}
        return allowed, headers
