"""Entra ID's wire formats: base64url, its timestamps (and ARM's .NET one), the no-store headers of token answers."""
from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def aad_timestamp(ts: float) -> str:
    """Entra's timestamp format: "2023-05-06 06:03:00Z"."""
    return utc(ts).strftime("%Y-%m-%d %H:%M:%SZ")


def dotnet_utc(ts: float) -> str:
    """ARM's (.NET invariant culture) rendering of a UTC time: "1/18/2023 5:10:42 PM"."""
    moment = utc(ts)
    hour12 = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour12}:{moment.minute:02d}:{moment.second:02d} {suffix}"


def parse_expiry(value: Any) -> float | None:
    """A scenario's expiry (ISO text, date or datetime; naive means UTC) as epoch seconds; None when not given."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def no_store_headers(trace_id: str, correlation_id: str | None = None) -> dict[str, str]:
    """The headers of every token endpoint answer (success or error)."""
    headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": trace_id}
    if correlation_id:
        headers["client-request-id"] = correlation_id
    return headers


def client_info(user: dict) -> str:
    """MSAL's client_info (asked for with client_info=1): base64url of {"uid": object id, "utid": tenant id}."""
    return b64url(json.dumps({"uid": str(user["object_id"]), "utid": user["tenant"]}).encode())
