from __future__ import annotations

import pytest

from app import servers


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:pw@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("postgresql://db/app?user=app&password=pw", "postgresql://db/app?user=app&password=***"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://user:p%40ss@host/1", "redis://user:***@host/1"),
        ("rediss://host:6380", "rediss://host:6380"),
    ],
)
async def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert servers.redact(url) == shown


async def test_an_unknown_host_is_named_as_such() -> None:
    with pytest.raises(servers.Unreachable) as caught:
        await servers.check_postgres("postgresql://app:pw@no-such-host.invalid/app")

    message = str(caught.value)
    assert message.startswith(
        "cannot reach PostgreSQL at postgresql://app:***@no-such-host.invalid/app "
        "(DATABASE_URL): host name not found"
    )


async def test_a_wrong_database_name_is_postgresql_s_own_words(database_url: str) -> None:
    url = database_url.rsplit("/", 1)[0] + "/no_such_database"

    with pytest.raises(servers.Unreachable) as caught:
        await servers.check_postgres(url)

    assert str(caught.value).endswith('database "no_such_database" does not exist')


async def test_reachable_servers_pass(database_url: str, server_urls: tuple[str, str]) -> None:
    await servers.check(database_url, server_urls[1])
