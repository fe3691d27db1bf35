"""The directory: the scenario's tenants, app registrations (secrets, certificates), users, managed identities and
Cortex XSOAR registrations, normalised for lookups (ids lower-cased).

An app certificate with `generate: true` gets a self-signed certificate and key made once per app and index and
kept across reloads (`generated`, owned by the service), so the credentials a test read stay valid after a reset.
"""
from __future__ import annotations

import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import errors
from .tokens import self_signed
from .wire import parse_expiry

TENANT_ALIASES = ("common", "organizations", "consumers")

GeneratedCertificates = dict[tuple[str, str, int], tuple[rsa.RSAPrivateKey, x509.Certificate]]


class Directory:
    def __init__(self, scenario: dict, generated: GeneratedCertificates):
        self.scenario = scenario
        self._generated = generated
        self.tenants: dict[str, dict] = {}
        self._tenant_names: dict[str, str] = {}
        for tenant in scenario.get("tenants") or []:
            tid = str(tenant["id"]).lower()
            self.tenants[tid] = tenant
            if tenant.get("name"):
                self._tenant_names[str(tenant["name"]).lower()] = tid
        self.apps: dict[tuple[str, str], dict] = {}  # (tenant id, client id) -> normalised app
        self.credentials: dict[str, dict] = {}       # app name -> what a client configures (Emulator.credentials)
        for app in scenario.get("apps") or []:
            self._load_app(app)
        self.users = [dict(u, tenant=str(u["tenant"]).lower()) for u in scenario.get("users") or []]
        self.managed_identities = []
        for identity in scenario.get("managed_identities") or []:
            entry = dict(identity, tenant=str(identity["tenant"]).lower())
            entry.setdefault("resource_id", self._default_mi_resource_id(entry))
            self.managed_identities.append(entry)
        self.registrations = {str(r["registration_id"]).lower(): r for r in scenario.get("xsoar_registrations") or []}

    # ------------------------------------------------------------------ loading
    def _load_app(self, app: dict) -> None:
        tid = str(app["tenant"]).lower()
        entry = dict(app)
        entry["tenant"] = tid
        entry["client_id"] = str(app["client_id"]).lower()
        entry.setdefault("object_id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"app:{entry['client_id']}")))
        entry["secrets"] = [
            {"value": str(s["value"]), "secret_id": str(s.get("secret_id") or ""),
             "expires": parse_expiry(s.get("expires"))}
            for s in app.get("secrets") or []
        ]
        certs = []
        generated = None
        for index, spec in enumerate(app.get("certificates") or []):
            if spec.get("generate"):
                cache_key = (tid, entry["client_id"], index)
                if cache_key not in self._generated:
                    self._generated[cache_key] = self_signed(f"{entry.get('name', entry['client_id'])}-client-cert")
                key, cert = self._generated[cache_key]
                generated = generated or (key, cert)
            elif spec.get("certificate_pem"):
                cert = x509.load_pem_x509_certificate(str(spec["certificate_pem"]).encode())
            else:
                continue
            certs.append({"cert": cert, "public_key": cert.public_key(),
                          "sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),
                          "sha256": cert.fingerprint(hashes.SHA256()).hex().upper()})
        entry["certs"] = certs
        self.apps[(tid, entry["client_id"])] = entry
        creds: dict[str, Any] = {
            "client_id": entry["client_id"], "tenant_id": tid, "object_id": entry["object_id"],
            "secret": entry["secrets"][0]["value"] if entry["secrets"] else None,
            "redirect_uri": (app.get("redirect_uris") or [None])[0],
            "certificate_thumbprint": None, "private_key_pem": None, "certificate_pem": None,
        }
        if generated:
            key, cert = generated
            creds["certificate_thumbprint"] = cert.fingerprint(hashes.SHA1()).hex().upper()
            creds["private_key_pem"] = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            creds["certificate_pem"] = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.credentials[str(app.get("name") or entry["client_id"])] = creds

    def _default_mi_resource_id(self, identity: dict) -> str | None:
        if identity.get("kind") != "user":
            return None
        for sub in self.scenario.get("subscriptions") or []:
            if str(sub.get("tenant", "")).lower() == identity["tenant"]:
                groups = sub.get("resource_groups") or [{"name": "identities"}]
                return (f"/subscriptions/{sub['id']}/resourcegroups/{groups[0]['name']}/providers/"
                        f"Microsoft.ManagedIdentity/userAssignedIdentities/{identity['name']}")
        return None

    # ------------------------------------------------------------------ lookups
    def tenant_of(self, segment: str) -> str | None:
        """The tenant id a path segment (id or name) names; None for common / organizations / consumers;
        AADSTS90002 for anything else."""
        key = segment.lower()
        if key in TENANT_ALIASES:
            return None
        tid = key if key in self.tenants else self._tenant_names.get(key)
        if tid is None:
            raise errors.tenant_not_found(segment)
        return tid

    def app_for(self, tid: str | None, client_id: str, segment: str) -> dict:
        """The app `client_id` in tenant `tid` (any tenant that has it when None), or AADSTS700016."""
        if tid is None:
            tid = next((t for (t, c) in self.apps if c == client_id), None)
        app = self.apps.get((tid, client_id)) if tid else None
        if app is None:
            raise errors.app_not_found(client_id, segment)
        return app

    def users_of(self, tid: str) -> list[dict]:
        return [u for u in self.users if u["tenant"] == tid]

    def find_identity(self, selectors: dict[str, str | None]) -> dict | None:
        """The managed identity one of the selectors (client_id / object_id / resource_id) names; without any, the
        system-assigned one."""
        chosen = {k: v.lower() for k, v in selectors.items() if v}
        if not chosen:
            return next((i for i in self.managed_identities if i.get("kind") == "system"), None)
        for identity in self.managed_identities:
            for key, value in chosen.items():
                field_value = str(identity.get(key) or "").lower()
                if field_value and field_value == value:
                    return identity
        return None

    def principal(self, name: str) -> tuple[str, dict]:
        """(kind, entry) of the principal a name (app / user / identity name, client id, upn, object id, XSOAR
        registration id) refers to: kind is app | user | managed_identity | registration. KeyError otherwise."""
        key = str(name).lower()
        for app in self.apps.values():
            if key in (str(app.get("name", "")).lower(), app["client_id"], str(app["object_id"]).lower()):
                return "app", app
        for user in self.users:
            if key in (str(user["upn"]).lower(), str(user["object_id"]).lower()):
                return "user", user
        for identity in self.managed_identities:
            if key in (str(identity["name"]).lower(), str(identity["client_id"]).lower(),
                       str(identity["object_id"]).lower()):
                return "managed_identity", identity
        for reg in self.registrations.values():
            if key in (str(reg["registration_id"]).lower(), str(reg["object_id"]).lower()):
                return "registration", reg
        raise KeyError(f"no principal named {name!r} in the scenario")
