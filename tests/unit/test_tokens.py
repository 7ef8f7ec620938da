import time

import pytest
from jose import jwt

from vodkit_shared.tokens import TokenError, Tokens

pytestmark = pytest.mark.unit
TOKENS = Tokens("s3cret")


def test_a_user_token_names_its_user() -> None:
    assert TOKENS.verify_user(TOKENS.user_token("alice")) == "alice"


def test_a_token_signed_elsewhere_with_the_shared_secret_is_a_user_token() -> None:
    token = jwt.encode({"sub": "bob", "exp": int(time.time()) + 60}, "s3cret", "HS256")
    assert TOKENS.verify_user(token) == "bob"


def test_an_upload_token_carries_the_seeds_claims_for_one_hour() -> None:
    token, grant = TOKENS.upload_token("v1", "alice")
    assert TOKENS.verify_upload(token) == grant
    claims = jwt.get_unverified_claims(token)
    assert {"videoId", "userId", "timestamp", "iat", "exp"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["timestamp"] - claims["iat"] * 1000) < 2000  # milliseconds, as Date.now() gives


@pytest.mark.parametrize("kind", ["upload", "playback"])
def test_no_kind_of_token_passes_as_another(kind: str) -> None:
    upload, _ = TOKENS.upload_token("v1", "alice")
    playback = TOKENS.playback_token("v1", 60)
    user = TOKENS.user_token("alice")
    with pytest.raises(TokenError):
        TOKENS.verify_user(upload if kind == "upload" else playback)
    with pytest.raises(TokenError):
        TOKENS.verify_upload(user if kind == "upload" else playback)
    with pytest.raises(TokenError):
        TOKENS.verify_playback(upload if kind == "upload" else user)


def test_expired_altered_and_foreign_tokens_are_refused() -> None:
    with pytest.raises(TokenError):
        TOKENS.verify_user(TOKENS.user_token("alice", ttl_s=-10))
    token = TOKENS.playback_token("v1", 60)
    with pytest.raises(TokenError):
        TOKENS.verify_playback(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    with pytest.raises(TokenError):
        Tokens("other").verify_user(TOKENS.user_token("alice"))
    with pytest.raises(TokenError):
        TOKENS.verify_user("not-a-jwt")
