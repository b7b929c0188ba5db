"""User JWT minting (PyJWT) for gateways configured with ``TIDINGS_AUTH_JWT_SECRET`` (HS256)
or an asymmetric key that the gateway trusts through ``TIDINGS_AUTH_JWKS_URL`` (RS256/ES256/EdDSA).

Claims follow docs/contract.md §2: ``sub`` is the user id (``TIDINGS_AUTH_USER_CLAIM``),
``tenant_id`` lists the tenants the user may Subscribe to (``TIDINGS_AUTH_TENANT_CLAIM``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import jwt

MIN_HS256_SECRET = 32


@dataclass
class TokenMinter:
    """Mints and caches user tokens. ``secret`` is an HS256 secret or a PEM private key."""

    secret: str
    algorithm: str = "HS256"
    issuer: str | None = None
    audience: str | None = None
    ttl_seconds: int = 3600
    user_claim: str = "sub"
    tenant_claim: str = "tenant_id"
    key_id: str | None = None
    _cache: dict[tuple[str, tuple[str, ...]], tuple[str, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.algorithm == "HS256" and len(self.secret) < MIN_HS256_SECRET:
            raise ValueError(f"an HS256 secret must have at least {MIN_HS256_SECRET} characters (the gateway refuses shorter ones)")

    def mint(self, user_id: str, tenants: Iterable[str] = (), *, now: float | None = None, ttl_seconds: int | None = None, extra: dict[str, Any] | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {self.user_claim: user_id, "iat": issued, "nbf": issued - 5, "exp": issued + (ttl_seconds or self.ttl_seconds)}
        tenant_list = list(tenants)
        if tenant_list:
            claims[self.tenant_claim] = tenant_list[0] if len(tenant_list) == 1 else tenant_list
        if self.issuer:
            claims["iss"] = self.issuer
        if self.audience:
            claims["aud"] = self.audience
        if extra:
            claims.update(extra)
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self.secret, algorithm=self.algorithm, headers=headers)

    def token_for(self, user_id: str, tenants: Iterable[str] = ()) -> str:
        """A cached token, re-minted when less than a quarter of its lifetime is left.

        Minting costs ~20 µs; caching keeps a connect storm measuring the gateway, not the load generator.
        """
        key = (user_id, tuple(tenants))
        now = time.time()
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[1] - now > self.ttl_seconds / 4:
                return hit[0]
            token = self.mint(user_id, key[1], now=now)
            self._cache[key] = (token, now + self.ttl_seconds)
            return token


def decode_unverified(token: str) -> dict[str, Any]:
    """The claims of a token without checking the signature (for tests and debugging)."""
    return jwt.decode(token, options={"verify_signature": False})
