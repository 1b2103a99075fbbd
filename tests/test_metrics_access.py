"""Who may read /metrics: a bearer of TANDEM_METRICS_TOKEN when one is set, else this machine only."""

import httpx

from tests.conftest import PG_URL
from tests.harness import Server, assert_error, fresh_database_url, start_server


def from_address(server: Server, host: str, token: str | None = None) -> httpx.AsyncClient:
    """A client whose requests reach the app as if they came from `host`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=server.app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://tandem", headers=headers)


async def test_without_a_token_only_this_machine_reads_metrics(sqlite_server):
    for host in ("127.0.0.1", "::1"):
        async with from_address(sqlite_server, host) as http:
            r = await http.get("/metrics")
            assert r.status_code == 200 and "# TYPE tandem_connections gauge" in r.text
    for host in ("203.0.113.9", "10.0.0.5", "2001:db8::1"):
        async with from_address(sqlite_server, host) as http:
            r = await http.get("/metrics")
            assert_error(r, 404, "not_found")
            assert "tandem_" not in r.text
    async with sqlite_server.client() as http:  # over a real socket from 127.0.0.1
        assert (await http.get("/metrics")).status_code == 200


async def test_with_a_token_everyone_needs_it(tmp_path):
    token = "metrics-" + "k" * 32
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, metrics_token=token) as server,
    ):
        for host in ("127.0.0.1", "203.0.113.9"):
            for offered in (None, "wrong", token + "x", token[:-1]):
                async with from_address(server, host, offered) as http:
                    r = await http.get("/metrics")
                    assert_error(r, 401, "unauthenticated")
                    assert "tandem_" not in r.text
            async with from_address(server, host, token) as http:
                r = await http.get("/metrics")
                assert r.status_code == 200 and "# TYPE tandem_connections gauge" in r.text
