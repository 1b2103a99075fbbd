"""The demo organization: people in all four roles, with logins to print; three projects with about
sixty tasks across every column, some overdue, some finished over the last six weeks; a few of
them with a description, subtasks and a conversation in comments, made as people would make them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth import service as auth
from tandem.auth.models import User
from tandem.chat import messages as chat_messages
from tandem.chat import receipts
from tandem.chat import service as chat
from tandem.chat.models import Conversation, Message
from tandem.comments import service as comments
from tandem.dashboard import activity_repository
from tandem.dashboard import service as dashboard
from tandem.kit import rank
from tandem.kit.clock import utcnow
from tandem.kit.ids import new_id
from tandem.orgs.models import Membership, Organization
from tandem.projects.models import DEFAULT_COLUMNS, Project, ProjectMember
from tandem.subtasks import service as subtasks
from tandem.tasks import service as task_service
from tandem.tasks.models import Task

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
    user_ids: dict[str, str] = {}
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
            user_ids[email] = user.id
    await session.flush()
    tasks = load_projects(session, "org_acme", user_ids, utcnow())
    await session.flush()
    await load_activity(session, "org_acme", tasks)
    await load_task_details(session, tasks)
    await load_conversations(session, "org_acme", user_ids)
    await dashboard.rebuild_tallies(session, "org_acme")
    return printed


async def load_activity(session: AsyncSession, org_id: str, tasks: list[Task]) -> None:
    """The feed's history: the latest completions, as they would have been recorded."""
    done = sorted((t for t in tasks if t.completed_at), key=lambda t: t.completed_at)  # type: ignore[arg-type, return-value]
    for task in done[-12:]:
        await activity_repository.add_activity(
            session,
            {
                "id": new_id("act"),
                "org_id": org_id,
                "project_id": task.project_id,
                "actor_id": task.assignee_id or task.created_by,
                "verb": "completed",
                "target": {"kind": "task", "id": task.id, "title": task.title},
                "detail": None,
                "created_at": task.completed_at,
            },
        )


# (slug, name, description, lead, other members with their roles, how many tasks)
PROJECTS = [
    (
        "rover",
        "Mars Rover Firmware",
        "Flight software for the next rover: drivers, telemetry, autonomy.",
        "grace@example.com",
        [("linus@example.com", "Contributor"), ("barbara@example.com", "Viewer")],
        24,
    ),
    (
        "website",
        "Website Relaunch",
        "New marketing site and docs portal.",
        "alan@example.com",
        [("tim@example.com", "Contributor"), ("katherine@example.com", "Viewer")],
        20,
    ),
    (
        "onboarding",
        "Customer Onboarding",
        "Make the first week with Acme robots a good one.",
        "katherine@example.com",
        [("margaret@example.com", "Contributor"), ("barbara@example.com", "Contributor")],
        16,
    ),
]
TASK_WORDS = (
    ["Draft", "Review", "Fix", "Test", "Design", "Document", "Refactor", "Ship", "Measure"],
    [
        "telemetry",
        "the landing page",
        "motor drivers",
        "pricing table",
        "welcome email",
        "the setup guide",
        "battery alerts",
        "navigation",
        "the FAQ",
        "error reporting",
        "sign-up flow",
        "camera calibration",
    ],
)
PRIORITIES = ["Low", "Medium", "Medium", "High", "Urgent"]


def load_projects(
    session: AsyncSession, org_id: str, user_ids: dict[str, str], now: datetime
) -> list[Task]:
    """The demo org's projects and tasks; the same every time but for dates, which follow today."""
    rng = random.Random(20261203)
    loaded: list[Task] = []
    assignable = [user_ids[email] for _, email, role in PEOPLE if role != "Guest"]
    for slug, name, description, lead, others, count in PROJECTS:
        project = Project(
            id=f"p_demo{slug}",
            org_id=org_id,
            name=name,
            description=description,
            status="active",
            start_date=(now - timedelta(days=60)).date(),
            due_date=(now + timedelta(days=rng.randint(20, 90))).date(),
            columns=list(DEFAULT_COLUMNS),
            created_by=user_ids[lead],
            created_at=now - timedelta(days=60),
            updated_at=now - timedelta(days=60),
        )
        session.add(project)
        session.add(ProjectMember(project_id=project.id, user_id=user_ids[lead], role="Lead"))
        for email, role in others:
            session.add(ProjectMember(project_id=project.id, user_id=user_ids[email], role=role))
        by_column: dict[str, list[Task]] = {column: [] for column in DEFAULT_COLUMNS}
        for i in range(count):
            column = DEFAULT_COLUMNS[i % len(DEFAULT_COLUMNS)]
            created = now - timedelta(days=rng.randint(43, 58), hours=rng.randint(0, 23))
            done = column == DEFAULT_COLUMNS[-1]
            completed = now - timedelta(days=rng.randint(0, 41), hours=rng.randint(0, 23))
            due_in = rng.randint(-10, 30)  # some overdue
            task = Task(
                id=f"t_demo{slug}{i:02d}",
                project_id=project.id,
                org_id=org_id,
                title=f"{rng.choice(TASK_WORDS[0])} {rng.choice(TASK_WORDS[1])}",
                description="",
                status=column,
                rank="",
                priority=rng.choice(PRIORITIES),
                assignee_id=rng.choice([*assignable, None]),
                due_date=(now + timedelta(days=due_in)).date() if rng.random() < 0.8 else None,
                rev=1,
                field_revs={},
                created_by=user_ids[lead],
                created_at=created,
                updated_at=completed if done else created,
                completed_at=completed if done else None,
            )
            by_column[column].append(task)
        for tasks in by_column.values():
            for task, key in zip(tasks, rank.spread(len(tasks)), strict=True):
                task.rank = key
                session.add(task)
                loaded.append(task)
    return loaded


DETAILS = [  # for the rover's motor drivers, the website's landing page, onboarding's calibration
    (
        "The drivers must know the motors' health before the rover moves.\n\n"
        "- read every current sensor at boot\n- report what fails, with its *code*\n\n"
        "See the [flight rules](https://example.com/flight-rules).",
        ["List the sensors", "Write the boot check", "Test on the bench rig"],
        [
            ("grace@example.com", "I can take the boot check this week."),
            ("linus@example.com", "Bench rig is free on Thursday; I booked it."),
        ],
    ),
    (
        "Keep it short: **one screen**, three steps, no jargon.",
        ["Outline", "First draft", "Review with support"],
        [("alan@example.com", "Draft is in the shared folder, comments welcome.")],
    ),
    (
        "Customers calibrate the camera on day one; today it takes 40 minutes. Aim for 10.",
        ["Time the current steps", "Cut the manual ones", "Try it with a customer"],
        [
            ("katherine@example.com", "Timed it: the lens check alone is 15 minutes."),
            ("ada@example.com", "Can the robot do the lens check itself?"),
        ],
    ),
]


async def load_task_details(session: AsyncSession, tasks: list[Task]) -> None:
    """Descriptions, subtasks (the first done) and comments on one task under way in each
    project, written through the tasks' own services as their people would."""
    # The first card of each board's "In Progress" column, by rank: work under way.
    under_way = sorted((t for t in tasks if t.status == DEFAULT_COLUMNS[1]), key=lambda t: t.rank)
    chosen = [
        next(t for t in under_way if t.project_id == p)
        for p in dict.fromkeys(t.project_id for t in under_way)
    ]
    by_email = {u.email: u for u in (await session.scalars(select(User))).all()}
    for task, (description, steps, said) in zip(chosen, DETAILS, strict=False):
        lead = await session.get(User, task.created_by)
        assert lead is not None
        await task_service.update_task(
            session, task.id, lead, {"description": description}, base_rev=None
        )
        for i, title in enumerate(steps):
            subtask = await subtasks.create_subtask(session, task.id, lead, title=title)
            if i == 0:
                await subtasks.update_subtask(session, subtask.id, lead, done=True)
        for email, text in said:
            await comments.create_comment(session, task.id, by_email[email], text)


# (author's email, text); Ada reads the direct one up to READ_BY_ADA messages, so the rest is unread.
DIRECT = [
    ("grace@example.com", "Ada, do you have a minute for the compiler review?"),
    ("ada@example.com", "Sure, after standup."),
    ("grace@example.com", "Great. I left notes on the parser task."),
    ("ada@example.com", "Saw them: the precedence table is lovely."),
    ("grace@example.com", "Thanks! Any worries about the error messages?"),
    ("ada@example.com", "Only that they should say which token they expected."),
    ("grace@example.com", "Agreed, I will add that today."),
    ("grace@example.com", "Also: the nightly build found a real bug."),
    ("grace@example.com", "A moth in relay 70, panel F. Taped it into the log."),
    ("grace@example.com", "Pushed the fix; can you look when you are back?"),
]
READ_BY_ADA = 6
GROUP_TITLE = "Launch crew"
GROUP = [
    ("katherine@example.com", "Trajectory numbers for the demo are in the shared sheet."),
    ("linus@example.com", "Merged the telemetry branch; CI is green."),
    ("margaret@example.com", "Flight software freeze is Friday noon."),
    ("ada@example.com", "Thanks all. Katherine, can you double-check the re-entry window?"),
    ("katherine@example.com", "On it, I will have it by tomorrow."),
    ("linus@example.com", "Heads-up: I am rebasing the board branch this afternoon."),
    ("margaret@example.com", "Priority displays are wired up for the alarms."),
    ("katherine@example.com", "Re-entry window checked: it holds with a 3 s margin."),
    ("linus@example.com", "Release notes draft is up for review."),
    ("margaret@example.com", "Freeze moved to Monday; one more test run needed."),
]


async def _spread(
    session: AsyncSession,
    conversation_id: str,
    messages: list[Any],
    *,
    minutes: int,
    ending: timedelta,
) -> None:
    """Back-date a conversation's messages, `minutes` apart, the last `ending` ago: as if sent over
    the past hours rather than in the second the demo was loaded."""
    last = utcnow() - ending
    for i, message in enumerate(reversed(messages)):
        # send_message writes with Core statements: its message is not in the session
        await session.execute(
            update(Message)
            .where(Message.id == message.id)
            .values(sent_at=last - timedelta(minutes=minutes * i))
        )
    conversation = await session.get(Conversation, conversation_id)
    assert conversation is not None
    conversation.last_activity_at = last


async def load_conversations(session: AsyncSession, org_id: str, user_ids: dict[str, str]) -> None:
    """Ada's direct conversation with Grace and the launch crew's group, sent through the chat
    service as their people would: some of it read by Ada, the latest unread."""
    ada = user_ids["ada@example.com"]
    direct, _ = await chat.create_conversation(
        session, org_id, user_ids["grace@example.com"], [ada], None
    )
    sent = [
        (
            await chat_messages.send_message(
                session, direct.id, user_ids[email], text, new_id("demo")
            )
        )[0]
        for email, text in DIRECT
    ]
    await receipts.mark_read(session, direct.id, ada, sent[READ_BY_ADA - 1].id)
    await _spread(session, direct.id, sent, minutes=7, ending=timedelta(minutes=12))
    crew = [
        user_ids[e] for e in ("katherine@example.com", "linus@example.com", "margaret@example.com")
    ]
    group, _ = await chat.create_conversation(session, org_id, ada, crew, GROUP_TITLE)
    sent = [
        (
            await chat_messages.send_message(
                session, group.id, user_ids[email], text, new_id("demo")
            )
        )[0]
        for email, text in GROUP
    ]
    await _spread(session, group.id, sent, minutes=23, ending=timedelta(minutes=3))
    for member in crew:  # every message reached them; each read up to their own last one
        await receipts.mark_delivered(session, group.id, member, [sent[-1].id])
