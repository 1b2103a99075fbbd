from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from tandem.auth.models import Profile, User
from tandem.orgs.events import Role
from tandem.realtime.envelope import Model


def _url_or_path(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("https://", "http://", "/")):
        raise ValueError("must be an http(s) URL or a path starting with /")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
AvatarUrl = Annotated[str | None, StringConstraints(max_length=2048), AfterValidator(_url_or_path)]
Email = Annotated[EmailStr, StringConstraints(max_length=254)]


class UserOut(Model):
    id: str
    email: str
    name: str
    avatar_url: str | None

    @classmethod
    def of(cls, user: User | Profile) -> UserOut:
        return cls(id=user.id, email=user.email, name=user.name, avatar_url=user.avatar_url)


class SignupIn(Model):
    email: Email
    password: Password
    name: Name


class LoginIn(Model):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class AuthOut(Model):
    user: UserOut
    access_token: str
    refresh_token: str


class RefreshIn(Model):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class TokenPair(Model):
    access_token: str
    refresh_token: str


class SocketTokenOut(Model):
    token: str
    expires_at: str


class MeMembership(Model):
    """One of the signed-in person's organizations (orgs' MembershipOut also has the status)."""

    org_id: str
    org_name: str
    role: Role


class MeOut(Model):
    user: UserOut
    memberships: list[MeMembership]


class MePatch(Model):
    name: Name | None = None
    avatar_url: AvatarUrl = Field(default=None)


class UserEnvelope(Model):
    user: UserOut
