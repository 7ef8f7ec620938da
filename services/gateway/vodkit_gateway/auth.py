"""Who is calling, and what they may see.

User tokens are either vodkit's own (HS256 with the shared secret) or an identity provider's
(RS256, checked against its JWKS). The algorithm is read from the token's header, but each one
is only ever checked with its own kind of key, so a token cannot choose how it is verified.

Each route's scheme is its operation's `security` in the route table, and `enforce_security`
checks it before the handler runs: `user` (401 without a valid user token), `optional_user` (a
wrong token is still a 401), `upload` (a valid upload token; the upload service checks again which
video it is for), `upload_or_user`, or none. Handlers read what it verified (`caller`,
`request[UPLOAD_GRANT]`) and never check a token themselves. `admin` (the job console) is `user` plus
403 unless the token's `roles` claim names `admin` or its user is one of `VODKIT_ADMIN_USERS`.

A video is `private` (its owner only), `unlisted` (anyone with its id) or `public` (also listed).
Only the owner changes or deletes it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from jose import JWTError, jwt

from vodkit_gateway.jwks import JsonWebKeys
from vodkit_gateway.keys import CALLER, SETTINGS, TOKENS, UPLOAD_GRANT, USER_AUTH, VERIFIED_USER, VIDEOS
from vodkit_gateway.openapi import Security, matched_operation
from vodkit_gateway.schemas import VIDEO_ID_PATTERN
from vodkit_gateway.videos import VideoRecord
from vodkit_shared.service import ApiError, bearer_token
from vodkit_shared.tokens import TokenError, Tokens, UploadGrant, has_role, user_subject

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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
        subject = user_subject(await self.claims(token))
        if len(subject) > _MAX_SUBJECT:
            raise TokenError("'sub' claim is too long")
        return subject

    async def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of a user token; TokenError if it is not one."""
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as error:
            raise TokenError(str(error)) from None
        algorithm = header.get("alg")
        if algorithm == "HS256":
            return self._tokens.verify_user_claims(token)
        if algorithm == "RS256" and self._jwks is not None:
            return await self._provider_claims(token, header.get("kid"))
        raise TokenError(f"user tokens are signed with HS256{' or RS256' if self._jwks else ''}, not {algorithm}")

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


async def verified_user(request: web.Request) -> str:
    """The user of the request's user token; TokenError if it is not one (ApiError 401 without a token).

    Verified once per request and remembered: the rate limiter keys on it, then the security check reads it.
    """
    if VERIFIED_USER not in request:
        try:
            request[VERIFIED_USER] = await request.app[USER_AUTH].user(bearer_token(request))
        except TokenError as error:
            request[VERIFIED_USER] = error
    outcome = request[VERIFIED_USER]
    if isinstance(outcome, TokenError):
        raise outcome
    return outcome


async def _user(request: web.Request) -> None:
    try:
        request[CALLER] = await verified_user(request)
    except TokenError as error:
        raise ApiError(401, "unauthorized", f"invalid user token: {error}") from None


async def _optional_user(request: web.Request) -> None:
    """The caller, or None without an Authorization header (a wrong token is still a 401)."""
    if "Authorization" in request.headers:
        await _user(request)
    else:
        request[CALLER] = None


async def _upload(request: web.Request) -> None:
    """A valid upload token, in the upload service's words when it is not one."""
    try:
        request[UPLOAD_GRANT] = upload_grant(request)
    except TokenError as error:
        raise ApiError(401, "unauthorized", f"invalid upload token: {error}") from None


async def _upload_or_user(request: web.Request) -> None:
    try:
        request[CALLER] = await verified_user(request)
    except TokenError:
        await _upload(request)


async def _admin(request: web.Request) -> None:
    """A user token of an admin: its `roles` claim names `admin`, or its user is in `VODKIT_ADMIN_USERS`."""
    await _user(request)
    if request[CALLER] in request.app[SETTINGS].admin_users:
        return
    claims = await request.app[USER_AUTH].claims(bearer_token(request))  # valid: `_user` verified it
    if not has_role(claims, "admin"):
        raise ApiError(403, "forbidden", "this needs an admin: a token with the 'admin' role")


async def _open(_: web.Request) -> None:
    pass


_CHECKS: dict[Security, Callable[[web.Request], Awaitable[None]]] = {
    "user": _user,
    "optional_user": _optional_user,
    "upload": _upload,
    "upload_or_user": _upload_or_user,
    "admin": _admin,
    "none": _open,
}


@web.middleware
async def enforce_security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The matched operation's `security`, checked before its handler: 401 without what it requires.

    The innermost middleware: a 401 still counts against the rate limit and carries tus's headers, and
    comes before any check of the handler's own (tus's version check answers 412 only after it).
    """
    operation = matched_operation(request)
    await _CHECKS[operation.security if operation else "none"](request)
    return await handler(request)


def upload_grant(request: web.Request) -> UploadGrant:
    """The grant of the request's upload token; TokenError if it is not one (ApiError 401 without a token)."""
    return request.app[TOKENS].verify_upload(bearer_token(request))


def caller(request: web.Request) -> str:
    """The user the operation's `user` scheme verified, before the handler ran."""
    user: str | None = request.get(CALLER)
    if user is None:  # a handler that needs a user on a route whose operation names no user scheme
        raise RuntimeError(f"{request.method} {request.path}: the route's operation verifies no user")
    return user


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


async def owned_video(request: web.Request) -> VideoRecord:
    """The video in the path, if the caller owns it: 404 or 403 otherwise."""
    user = caller(request)
    video = await _video(request)
    if video.owner != user:
        raise ApiError(403, "forbidden", "this video belongs to another user")
    return video


async def viewable_video(request: web.Request) -> tuple[VideoRecord, bool]:
    """The video in the path, if the caller (of an `optional_user` route) may see it, and whether the caller owns it."""
    user = request[CALLER]
    video = await _video(request)
    if video.owner == user:
        return video, True
    if video.visibility == "private":
        if user is None:
            raise ApiError(401, "unauthorized", "this video is private: send its owner's user token")
        raise ApiError(403, "forbidden", "this video is private to its owner")
    return video, False
