"""Settings from TANDEM_* environment variables, with safe one-machine defaults."""

from __future__ import annotations

import ipaddress
import json
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.cwd() / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = ""
    redis_url: str = ""
    # Every Redis key and channel Tandem uses starts with this, so instances that share one Redis
    # (tests, benchmark runs, two deployments) see only their own.
    redis_prefix: str = "tandem"
    # Generated per data directory on first start when unset (see secret_key_value).
    secret_key: str = ""
    # Origins allowed to open a socket besides the server's own (the page's Host, as served).
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    socket_token_seconds: int = 300
    event_retention_days: int = 7
    event_retention_min_per_room: int = 10_000
    max_socket_payload: int = 64 * 1024
    max_attachment_bytes: int = 25 * 1024 * 1024
    # With a bucket set, attachments go to this S3-compatible store; else under data_dir/attachments.
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_region: str = ""
    max_body_bytes: int = 1024 * 1024
    # Bearer token /metrics asks for; unset, /metrics answers loopback clients only (404 to others).
    metrics_token: str = ""
    presence_grace_seconds: float = 1.0
    # One process (no Redis): who was online at a stop stays online this long after the start.
    presence_restart_grace_seconds: float = 60.0
    # Attempts allowed before 429; each bucket refills evenly over its period, and 0 turns one off.
    login_limit_per_minute: int = 10  # per account (email)
    login_ip_limit_per_minute: int = 30
    signup_limit_per_hour: int = 20  # per IP
    refresh_limit_per_minute: int = 30  # per login, or per IP for a token that is not ours
    org_create_limit_per_hour: int = 10  # per account
    # chat.message.send, over REST or the socket: a burst, then one more every window / burst
    # seconds (30 at once, then 5 a second per person; 120, then 20 a second per address).
    chat_send_burst: int = 30  # per person; 0 turns it off
    chat_send_window_seconds: float = 6.0
    chat_send_ip_burst: int = 120  # per client address; 0 turns it off
    chat_send_ip_window_seconds: float = 6.0
    # chat.typing, beside every hint's per-socket limit: 20 at once, then 2 a second per person;
    # 300, then 30 a second per address (an office behind one address types a lot).
    chat_typing_burst: int = 20
    chat_typing_window_seconds: float = 10.0
    chat_typing_ip_burst: int = 300
    chat_typing_ip_window_seconds: float = 10.0
    max_orgs_per_user: int = 50  # organizations one account may own at once
    dispatcher_poll_seconds: float = 0.5
    # On SQLite without Redis (one process), a transaction writes its events to the log itself
    # instead of to the outbox (realtime/direct_log.py); off, they go through the outbox as on PostgreSQL.
    direct_log: bool = True
    longpoll_max_wait: float = 25.0
    # Events one socket (and one person, over all their sockets) may have unanswered at once; the
    # excess is refused at once with `rate_limited`.
    socket_max_in_flight: int = 16
    socket_max_in_flight_per_person: int = 64
    socket_subscribe_limit_per_minute: int = 600  # per socket; 0 turns it off
    # An engine.io session must complete its Socket.IO connect within this, or it is closed.
    socket_handshake_seconds: float = 10.0
    # Engine.IO pings every socket this often and closes one that has not answered within as long
    # again: a client gone without a FIN is found within twice this.
    socket_ping_seconds: float = Field(default=10.0, gt=0)
    # Client events over the socket, each with a limit per socket and one per client address (the
    # peer, or X-Forwarded-For from the proxies uvicorn trusts): a burst, then one more every
    # window / burst seconds; 0 turns one off. realtime/limits.py names each event's pair (the
    # `subscribe` per socket is socket_subscribe_limit_per_minute; the per-address limits of
    # chat.message.send and chat.typing are chat_send_ip_* and chat_typing_ip_*); an event it does
    # not name has socket_event_*. Sized so that 500 people behind one address never meet them in
    # normal use, and all get back in within seconds when they reconnect at once.
    socket_subscribe_ip_burst: int = 10_000
    socket_subscribe_ip_window_seconds: float = 60.0
    socket_unsubscribe_burst: int = 600
    socket_unsubscribe_window_seconds: float = 60.0
    socket_unsubscribe_ip_burst: int = 10_000
    socket_unsubscribe_ip_window_seconds: float = 60.0
    # kanban.typing, kanban.lock, task.typing, chat.typing: each its own bucket
    socket_hint_burst: int = 20
    socket_hint_window_seconds: float = 2.0
    socket_hint_ip_burst: int = 1000
    socket_hint_ip_window_seconds: float = 10.0
    socket_chat_send_burst: int = 30
    socket_chat_send_window_seconds: float = 6.0
    # chat.message.delivered, chat.message.read
    socket_receipt_burst: int = 120
    socket_receipt_window_seconds: float = 10.0
    socket_receipt_ip_burst: int = 5000
    socket_receipt_ip_window_seconds: float = 10.0
    socket_event_burst: int = 60
    socket_event_window_seconds: float = 10.0
    socket_event_ip_burst: int = 3000
    socket_event_ip_window_seconds: float = 10.0
    # Socket.IO connects per client address, across instances with Redis; over it a connect is
    # refused with a `rate_limited` connect_error carrying retryAfterMs. Addresses in these networks
    # are not counted: loopback by default, where a local balancer connects from.
    socket_connect_ip_burst: int = 2000
    socket_connect_ip_window_seconds: float = 20.0
    socket_connect_ip_exempt: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1"]
    )
    # Socket.IO connects one process checks at once (token, user room, presence); the ones past it
    # are refused at once, `rate_limited` with a short retryAfterMs, rather than queued (0: no cap).
    socket_max_handshakes: int = 64

    @field_validator("socket_connect_ip_exempt", mode="before")
    @classmethod
    def _split_exempt(cls, value: object) -> object:
        return cls._split_list(value)

    @field_validator("socket_connect_ip_exempt")
    @classmethod
    def _exempt_networks(cls, value: list[str]) -> list[str]:
        return cls._networks(value)

    # Connections the kernel holds for the server to accept (capped by net.core.somaxconn): past it,
    # it drops new ones and their clients wait a second or more to try again.
    listen_backlog: int = Field(default=4096, gt=0)
    # A new TCP connection must send a complete request head within this, or it is closed (0: off).
    header_timeout_seconds: float = 10.0
    # Open connections one address may hold in each serving process (0: no cap), except addresses in
    # these networks: loopback by default, where a local reverse proxy or balancer connects from.
    max_connections_per_ip: int = 1000
    connection_cap_exempt: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1"]
    )
    # What one socket may have queued but unwritten (a client that stops reading): past half of
    # either, its ephemeral events are dropped; past either, it is closed and its client replays.
    socket_max_buffer_bytes: int = 1024 * 1024
    socket_max_buffer_packets: int = 1000
    # Automatic rollback (docs/rollout.md): every check_seconds the dispatcher's leader looks at
    # each org's phases that are on or soaking over the last window_seconds, and turns a phase off
    # for that org alone when its clients' p99 passes p99_ms (with at least min_samples samples),
    # when max_drift drift reports arrived, when more than max_error_rate of the calls its clients
    # reported failed on the server's side (at least min_samples calls), or, for orgs in soak only,
    # when the dispatch lag's p99 since the last check passed max_lag_seconds. false: the figures
    # are still computed and shown, nothing is turned off.
    auto_rollback: bool = True
    rollback_check_seconds: float = 15.0
    rollback_window_seconds: int = 300
    rollback_p99_ms: float = 1000.0  # the PRD's SLA
    rollback_min_samples: int = 50
    rollback_max_drift: int = 5
    rollback_max_error_rate: float = 0.05
    rollback_max_lag_seconds: float = 5.0
    # Drift reports one person may send (a burst; then one every 60 / this seconds); 0: no limit.
    drift_reports_per_minute: int = 30
    instance_id: str = Field(default_factory=lambda: secrets.token_hex(4))
    log_level: str = "info"
    json_logs: bool = True
    serve_web: bool = True

    @field_validator("allowed_origins", "connection_cap_exempt", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("connection_cap_exempt")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # a ValueError names the bad entry
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'tandem.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def secret_key_value(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
