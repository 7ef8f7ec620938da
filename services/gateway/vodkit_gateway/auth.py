"""Who is calling, and what they may see.

User tokens are either vodkit's own (HS256 with the shared secret) or an identity provider's
(RS256, checked against its JWKS). The algorithm is read from the token's header, but each one
is only ever checked with its own kind of key, so a token cannot choose how it is verified.

A video is `private` (its owner only), `unlisted` (anyone with its id) or `public` (also listed).
Only the owner changes or deletes it.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from jose import JWTError, jwt

from vodkit_gateway.jwks import JsonWebKeys
from vodkit_gateway.schemas import VIDEO_ID_PATTERN
from vodkit_gateway.videos import VideoRecord, Videos
from vodkit_shared.service import ApiError, bearer_token
from vodkit_shared.tokens import TokenError, Tokens

_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)
_MAX_SUBJECT = 256


class UserAuth:
    def __init__(self, tokens: Tokens, jwks: JsonWebKeys | None = None, issuer: str = "", audience: str = "") -> None:
        self._tokens = tokens
        self._jwks = jwks
        self._issuer = issuer or None
        self._audience = audience or None

    async def user(self, token: str) -> str:
        """The user id (`sub`) of a valid user token; TokenError otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as error:
            raise TokenError(str(error)) from None
        algorithm = header.get("alg")
        if algorithm == "HS256":
            subject = self._tokens.verify_user(token)
        elif algorithm == "RS256" and self._jwks is not None:
            subject = _subject(await self._provider_claims(token, header.get("kid")))
        else:
            raise TokenError(f"user tokens are signed with HS256{' or RS256' if self._jwks else ''}, not {algorithm}")
        if len(subject) > _MAX_SUBJECT:
            raise TokenError("'sub' claim is too long")
        return subject

    async def _provider_claims(self, token: str, kid: Any) -> dict[str, Any]:
        assert self._jwks is not None
        key = await self._jwks.key(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self._issuer,
                audience=self._audience,
                options={"require_exp": True, "verify_aud": self._audience is not None},
            )
        except JWTError as error:
            raise TokenError(str(error)) from None
        return dict(claims)


def _subject(claims: dict[str, Any]) -> str:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("token has no 'sub' claim")
    return subject


TOKENS = web.AppKey("tokens", Tokens)
USER_AUTH = web.AppKey("user_auth", UserAuth)
VIDEOS = web.AppKey("videos", Videos)


_VERIFIED: web.RequestKey[str | TokenError] = web.RequestKey("verified_user")


async def verified_user(request: web.Request) -> str:
    """The user of the request's user token; TokenError if it is not one (ApiError 401 without a token).

    Verified once per request and remembered: the rate limiter keys on it, then the handler reads it.
    """
    if _VERIFIED not in request:
        try:
            request[_VERIFIED] = await request.app[USER_AUTH].user(bearer_token(request))
        except TokenError as error:
            request[_VERIFIED] = error
    outcome = request[_VERIFIED]
    if isinstance(outcome, TokenError):
        raise outcome
    return outcome


async def current_user(request: web.Request) -> str:
    try:
        return await verified_user(request)
    except TokenError as error:
        raise ApiError(401, "unauthorized", f"invalid user token: {error}") from None


async def optional_user(request: web.Request) -> str | None:
    """The caller, or None without an Authorization header (a wrong token is still a 401)."""
    return await current_user(request) if "Authorization" in request.headers else None


def video_id(request: web.Request) -> str:
    """The video id in the path; 404 unless it is a well-formed id, so nothing odd reaches storage keys."""
    value = request.match_info["video_id"]
    if not _VIDEO_ID.match(value):
        raise ApiError(404, "not_found", "no such video: video ids are lowercase UUIDs")
    return value


async def _video(request: web.Request) -> VideoRecord:
    video = await request.app[VIDEOS].get(video_id(request))
    if video is None:
        raise ApiError(404, "not_found", "no such video")
    return video


async def owned_video(request: web.Request, user: str | None = None) -> VideoRecord:
    """The video in the path, if the caller (`user`, when already known) owns it: 401, 404 or 403 otherwise."""
    user = user or await current_user(request)
    video = await _video(request)
    if video.owner != user:
        raise ApiError(403, "forbidden", "this video belongs to another user")
    return video


async def viewable_video(request: web.Request) -> tuple[VideoRecord, bool]:
    """The video in the path, if the caller may see it, and whether the caller owns it."""
    user = await optional_user(request)
    video = await _video(request)
    if video.owner == user:
        return video, True
    if video.visibility == "private":
        if user is None:
            raise ApiError(401, "unauthorized", "this video is private: send its owner's user token")
        raise ApiError(403, "forbidden", "this video is private to its owner")
    return video, False
