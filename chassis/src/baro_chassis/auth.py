"""Bearer tokens: HS256 JWTs carrying roles or a structure scope (one registration)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from baro_chassis.errors import ApiError

ISSUER = "baro"
AUDIENCE = "baro-services"


class Role(StrEnum):
    ADMIN = "admin"
    FRONTEND = "frontend"
    AUDITOR = "auditor"
    FINANCE = "finance"
    REPLAY_AUDITOR = "replay-auditor"


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    registration_id: UUID | None = None

    def has_any(self, roles: frozenset[Role]) -> bool:
        return bool(self.roles & roles)

    def is_structure_of(self, registration_id: UUID) -> bool:
        return self.registration_id is not None and self.registration_id == registration_id


def issue_token(
    secret: str,
    *,
    roles: tuple[Role, ...] = (),
    registration_id: UUID | None = None,
    subject: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    if not roles and registration_id is None:
        raise ValueError("a token needs at least one role or a registration scope")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject or (f"structure:{registration_id}" if registration_id else roles[0].value),
        "iat": now,
        "exp": now + ttl,
        "roles": [r.value for r in roles],
    }
    if registration_id is not None:
        claims["registration_id"] = str(registration_id)
    return jwt.encode(claims, secret, algorithm="HS256")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


_VERIFIED_CACHE_SIZE = 10_000
_verified: dict[tuple[str, str], tuple[Principal, float]] = {}


def decode_token(secret: str, token: str) -> Principal:
    """The token's principal; a token verified before is not verified again until it expires
    (front-ends and capture apps send the same token with every request)."""
    known = _verified.get((secret, token))
    if known is not None and known[1] > time.time():
        return known[0]
    principal, expires = _verify(secret, token)
    if len(_verified) >= _VERIFIED_CACHE_SIZE:
        _verified.clear()
    _verified[(secret, token)] = (principal, expires)
    return principal


def _verify(secret: str, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("the bearer token has expired: ask for a new one") from exc
    except jwt.InvalidTokenError as exc:
        raise _unauthorized(f"the bearer token is invalid ({exc})") from exc
    try:
        roles = frozenset(Role(r) for r in claims.get("roles", []))
        scope = claims.get("registration_id")
        registration_id = UUID(scope) if scope else None
    except ValueError as exc:
        raise _unauthorized(f"the bearer token carries an unknown role or scope ({exc})") from exc
    return Principal(str(claims["sub"]), roles, registration_id), float(claims["exp"])


_bearer = HTTPBearer(auto_error=False)

# Dependencies are `async def` although they never wait: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop per dependency per request.


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized(
            "this endpoint needs a bearer token: send 'Authorization: Bearer <token>' "
            "(`uv run baro token --role admin` prints one for the local stack)"
        )
    return decode_token(request.app.state.settings.jwt_secret, credentials.credentials)


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller's principal, or None for a call without a token (for what is public once
    published); a token that is sent must be valid."""
    if credentials is None:
        return None
    return await current_principal(request, credentials)


class Requirement:
    """A dependency admitting the given roles and, if `structure`, any structure token.

    A structure token's access to one registration is then checked by `ensure_registration`.
    """

    def __init__(self, roles: frozenset[Role], structure: bool) -> None:
        self.roles = roles
        self.structure = structure

    def admit(self, principal: Principal) -> Principal:
        if principal.has_any(self.roles) or (
            self.structure and principal.registration_id is not None
        ):
            return principal
        wanted = ", ".join(sorted(r.value for r in self.roles))
        if self.structure:
            wanted += ", or the structure's own token"
        raise ApiError(403, "forbidden", f"this action needs one of these roles: {wanted}")

    async def check(self, request: Request) -> Principal:
        """The same check, on the request's headers alone (before its body is read)."""
        return self.admit(await current_principal(request, await _bearer(request)))

    async def __call__(
        self, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        return self.admit(principal)


def require(*roles: Role, structure: bool = False) -> Requirement:
    """A dependency admitting the given roles and, if `structure`, any structure token."""
    return Requirement(frozenset(roles), structure)


def ensure_registration(principal: Principal, registration_id: UUID, *roles: Role) -> None:
    """Refuse unless the principal has one of `roles` or is that registration's structure."""
    if principal.has_any(frozenset(roles)) or principal.is_structure_of(registration_id):
        return
    raise ApiError(403, "forbidden", "this structure token is scoped to another registration")
