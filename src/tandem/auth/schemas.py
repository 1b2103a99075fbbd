from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from tandem.auth.models import Profile, User
from tandem.orgs.events import Role
from tandem.realtime.envelope import Model

# Characters that reorder or hide text (bidi embeddings, overrides and isolates; zero-width
# spaces and joiners; the byte-order mark): in a name they disguise who someone is.
_HIDING = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x200E), 0xFEFF]
)
_SPACES = re.compile(r"\s+")


def clean_name(value: str) -> str:
    """A name as people see it: NFC, trimmed, inner whitespace runs as one space; refused when it
    holds control characters (tabs and newlines too) or characters that reorder or hide text, or
    when nothing is left."""
    for ch in value:
        if ord(ch) in _HIDING:
            raise ValueError(
                f"must not contain invisible or text-reordering characters (U+{ord(ch):04X})"
            )
        if unicodedata.category(ch) == "Cc":
            raise ValueError(f"must not contain control characters (U+{ord(ch):04X})")
    value = _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _url_or_path(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value.startswith(("https://", "http://")):
        return value
    # "//host/x" and "/\\host/x" are read by browsers as another site, not a path on this one.
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    raise ValueError("must be an http(s) URL or a path on this site starting with a single /")


def _email(value: str) -> str:
    # Syntax only, with no DNS lookup: addresses at example.com and on .test are accepted like any
    # other (test_environment), since teams try the product with them.
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None


# What clean_name refuses, as a pattern: the document says which names are taken (the server still
# normalises them), so a generated client or a fuzzer sends only names that are.
_UNSHOWN = r"\u0000-\u001f\u007f-\u009f\u200b-\u200d\u202a-\u202e\u2066-\u2069\ufeff"
NAME_PATTERN = rf"^[^{_UNSHOWN}]*[^\s{_UNSHOWN}][^{_UNSHOWN}]*$"

Name = Annotated[
    str,
    StringConstraints(max_length=100),
    AfterValidator(clean_name),
    Field(min_length=1),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100, "pattern": NAME_PATTERN}),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
AvatarUrl = Annotated[
    str | None,
    StringConstraints(max_length=2048),
    AfterValidator(_url_or_path),
    WithJsonSchema(
        {
            "anyOf": [
                # empty (no avatar), http(s)://…, or a path on this site: "/" or "/" then not / or \.
                {"type": "string", "maxLength": 2048, "pattern": r"^(https?://|/$|/[^/\\]|$)"},
                {"type": "null"},
            ]
        }
    ),
]
# One validator for every email field, documented as the `email` format it checks.
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]


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


class PasswordChangeIn(Model):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    new_password: Password


class PasswordChanged(Model):
    ended_logins: int  # the person's other logins, signed out by the change


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
