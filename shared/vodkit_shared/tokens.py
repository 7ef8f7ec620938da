"""The three kinds of JWT vodkit issues and checks.

- user tokens: HS256 with the shared secret itself, claim `sub` = user id (and `roles`, e.g.
  `["admin"]` for the job console), so any identity tool holding `VODKIT_AUTH_SECRET` can issue them;
- upload tokens (the seed's): videoId, userId, issued-at, 1 hour;
- playback tokens: one video, short-lived.
Upload and playback tokens are signed with keys derived from the secret per purpose, so no
token of one kind can ever pass as another, whatever claims it carries.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from jose import JWTError, jwt

ALGORITHM = "HS256"
UPLOAD_TOKEN_TTL_S = 3600


class TokenError(Exception):
    """The token is missing, malformed, expired or signed with another key."""


@dataclass(frozen=True)
class UploadGrant:
    """What an upload token allows: chunks of one video, up to its declared size."""

    video_id: str
    user_id: str
    expires_at: int
    size: int | None = None  # declared bytes of the whole file
    sha256: str | None = None  # declared SHA-256 of the whole file, verified at assembly


class Tokens:
    def __init__(self, secret: str) -> None:
        self._user_key = secret
        self._upload_key = _derive(secret, "upload")
        self._playback_key = _derive(secret, "playback")

    def user_token(self, user_id: str, ttl_s: int = 30 * 24 * 3600, roles: tuple[str, ...] = ()) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_s}
        if roles:
            claims["roles"] = list(roles)
        return jwt.encode(claims, self._user_key, ALGORITHM)

    def verify_user(self, token: str) -> str:
        return user_subject(self.verify_user_claims(token))

    def verify_user_claims(self, token: str) -> dict[str, Any]:
        return _decode(token, self._user_key)

    def upload_token(
        self,
        video_id: str,
        user_id: str,
        size: int | None = None,
        sha256: str | None = None,
        ttl_s: int = UPLOAD_TOKEN_TTL_S,
    ) -> tuple[str, UploadGrant]:
        now = int(time.time())
        grant = UploadGrant(video_id, user_id, now + ttl_s, size, sha256)
        claims = {
            "videoId": video_id,
            "userId": user_id,
            "timestamp": int(time.time() * 1000),  # the seed's claim: Date.now(), in milliseconds
            "iat": now,
            "exp": grant.expires_at,
            "size": size,
            "sha256": sha256,
        }
        return jwt.encode(claims, self._upload_key, ALGORITHM), grant

    def verify_upload(self, token: str) -> UploadGrant:
        claims = _decode(token, self._upload_key)
        video_id, user_id = claims.get("videoId"), claims.get("userId")
        if not isinstance(video_id, str) or not isinstance(user_id, str):
            raise TokenError("upload token lacks videoId or userId")
        size, sha256 = claims.get("size"), claims.get("sha256")
        return UploadGrant(
            video_id,
            user_id,
            int(claims["exp"]),
            size if isinstance(size, int) else None,
            sha256 if isinstance(sha256, str) else None,
        )

    def playback_token(self, video_id: str, ttl_s: int) -> str:
        now = int(time.time())
        return jwt.encode({"videoId": video_id, "iat": now, "exp": now + ttl_s}, self._playback_key, ALGORITHM)

    def playback_key(self) -> str:
        """The HMAC key of playback tokens, for an edge cache that checks them itself: it can verify and
        mint playback tokens, and nothing else (user and upload tokens need the secret or their own keys)."""
        return self._playback_key

    def verify_playback(self, token: str) -> str:
        video_id = _decode(token, self._playback_key).get("videoId")
        if not isinstance(video_id, str):
            raise TokenError("playback token lacks videoId")
        return video_id


def user_subject(claims: dict[str, Any]) -> str:
    """The user id of a user token's claims."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("token has no 'sub' claim")
    return subject


def has_role(claims: dict[str, Any], role: str) -> bool:
    """Whether a user token's `roles` claim (a list of strings, as identity providers write it) names `role`."""
    roles = claims.get("roles")
    return isinstance(roles, list) and role in roles


def _derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), f"vodkit:{purpose}".encode(), hashlib.sha256).hexdigest()


def _decode(token: str, key: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require_exp": True})
    except JWTError as error:
        raise TokenError(str(error)) from None
    return dict(claims)
