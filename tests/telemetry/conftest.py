"""Fast (still argon2id) password hashing for this directory's signups and logins."""

from tests.harness import fast_password_hashing  # noqa: F401
