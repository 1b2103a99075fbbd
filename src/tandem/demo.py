"""The demo organization: people in all four roles, with logins to print."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth import service as auth
from tandem.auth.models import User
from tandem.orgs.models import Membership, Organization

DEMO_PASSWORD = "tandem-demo"
DEMO_ORG = "Acme Robotics"
PEOPLE = [
    ("Ada Lovelace", "ada@example.com", "Owner"),
    ("Grace Hopper", "grace@example.com", "Admin"),
    ("Alan Turing", "alan@example.com", "Admin"),
    ("Katherine Johnson", "katherine@example.com", "Member"),
    ("Linus Torvalds", "linus@example.com", "Member"),
    ("Margaret Hamilton", "margaret@example.com", "Member"),
    ("Tim Berners-Lee", "tim@example.com", "Member"),
    ("Barbara Liskov", "barbara@example.com", "Guest"),
]
OTHER_ORG = ("Globex Corporation", [("Hank Scorpio", "hank@example.com", "Owner")])


async def demo_exists(session: AsyncSession) -> bool:
    return await session.scalar(select(User.id).where(User.email == PEOPLE[0][1])) is not None


async def load_demo(session: AsyncSession) -> list[tuple[str, str, str, str]]:
    """Create the demo data once. Returns (org, name, email, role) rows to print."""
    if await demo_exists(session):
        return []
    password_hash = await auth.hash_password(DEMO_PASSWORD)
    printed = []
    for org_name, people in ((DEMO_ORG, PEOPLE), OTHER_ORG):
        org = Organization(id=f"org_{org_name.split()[0].lower()}", name=org_name)
        session.add(org)
        await session.flush()
        for name, email, role in people:
            user = await auth.create_user(
                session, email=email, password="", name=name, password_hash=password_hash
            )
            session.add(Membership(org_id=org.id, user_id=user.id, role=role, status="active"))
            printed.append((org_name, name, email, role))
    await session.flush()
    return printed
