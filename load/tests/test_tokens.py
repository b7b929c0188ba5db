import jwt
import pytest

from tidings_load.tokens import TokenMinter, decode_unverified

SECRET = "s" * 32


def test_claims_follow_the_contract():
    minter = TokenMinter(SECRET, issuer="iss-1", audience="tidings")
    token = minter.mint("user-123", ["t1", "t2"], now=1_700_000_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="tidings", options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    assert claims["sub"] == "user-123"
    assert claims["tenant_id"] == ["t1", "t2"]
    assert claims["iss"] == "iss-1"
    assert claims["exp"] - claims["iat"] == 3600


def test_single_tenant_is_a_string_and_custom_claims():
    minter = TokenMinter(SECRET, user_claim="uid", tenant_claim="tenants")
    claims = decode_unverified(minter.mint("u", ["t1"]))
    assert claims["uid"] == "u" and claims["tenants"] == "t1" and "sub" not in claims


def test_short_hs256_secret_refused_like_the_gateway():
    with pytest.raises(ValueError):
        TokenMinter("short")


def test_token_cache_reuses_until_near_expiry():
    minter = TokenMinter(SECRET, ttl_seconds=3600)
    a = minter.token_for("u1")
    assert minter.token_for("u1") == a
    assert minter.token_for("u2") != a
