"""`tracker stats`: operational figures (where clicks are; recounts)."""

from __future__ import annotations

import typer

from app.cli_support import CLI_OPTIONS, _check_servers, _ready_settings, _run, _server_settings
from app.settings import Settings

stats_cli = typer.Typer(help="Operational figures.", **CLI_OPTIONS)


async def _pipeline(settings: Settings) -> list[dict[str, object]]:
    from app.ops import pipeline
    from app.redis import create_redis
    from app.streams import keys

    _, redis_url = settings.require_urls()
    redis = create_redis(redis_url)
    try:
        return [
            (await pipeline.pipeline_state(redis, settings, stream)).as_dict()
            for stream in (keys.CLICKS, keys.CONVERSIONS)
        ]
    finally:
        await redis.aclose()


@stats_cli.command("pipeline")
def stats_pipeline() -> None:
    """Where clicks and conversions are, stream by stream.

    Served = stored + in flight + dead-lettered (+ discarded): the balance is 0."""
    settings = _server_settings()
    # Counts in Redis can look fine while the worker cannot store anything: check both.
    _check_servers(settings)
    for state in _run(lambda: _pipeline(settings)):
        _print_pipeline(state)


async def _recount(database_url: str) -> int:
    import asyncpg

    from app.attribution.rollup import recount_customer_metrics

    conn = await asyncpg.connect(database_url)
    try:
        return await recount_customer_metrics(conn)
    finally:
        await conn.close()


@stats_cli.command("recount-customers")
def stats_recount_customers() -> None:
    """Recount the rollups' customer metrics.

    From the conversions, one day at a time; safe while the service runs."""
    settings = _ready_settings(redis=False)
    database_url, _ = settings.require_urls()
    days = _run(lambda: _recount(database_url))
    typer.echo(f"recounted {days} day(s) of customer metrics")


async def _recount_diverted(database_url: str) -> str:
    import asyncpg

    from app.rollups import diverted

    conn = await asyncpg.connect(database_url)
    try:
        done = await diverted.recount(conn)
    finally:
        await conn.close()
    return (
        f"recounted the diverted clicks of {done.hours} hour(s), {done.rows} rollup row(s);"
        f" longest lock {done.longest_lock_s * 1000:.0f} ms"
    )


@stats_cli.command("recount-diverted")
def stats_recount_diverted() -> None:
    """Recount the rollups' diverted clicks by reason from the raw clicks kept.

    One UTC hour at a time; safe while the service runs (run once after the rollout of
    migration 0073: the version before counts no diverted clicks)."""
    settings = _ready_settings(redis=False)
    database_url, _ = settings.require_urls()
    typer.echo(_run(lambda: _recount_diverted(database_url)))


async def _recount_cohorts(database_url: str) -> None:
    import asyncpg

    from app.rollups import cohorts

    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await cohorts.rebuild(conn)
    finally:
        await conn.close()


@stats_cli.command("recount-cohorts")
def stats_recount_cohorts() -> None:
    """Recount the cohort rollup from the conversions.

    In one transaction: writers of conversions wait on its lock until it is done."""
    settings = _ready_settings(redis=False)
    database_url, _ = settings.require_urls()
    _run(lambda: _recount_cohorts(database_url))
    typer.echo("recounted the cohort rollup")


async def _coarsen_cohorts(database_url: str) -> None:
    import asyncpg

    from app.rollups import cohorts

    conn = await asyncpg.connect(database_url)
    try:
        await cohorts.coarsen(conn)
    finally:
        await conn.close()


@stats_cli.command("coarsen-cohorts")
def stats_coarsen_cohorts() -> None:
    """Recount the cohort rollup's coarse pieces (UTC weeks cut at month starts) from its
    days, hours and quarters, dropping migration 0071's months and weeks.

    A piece of one level a transaction: safe while the service runs."""
    settings = _ready_settings(redis=False)
    database_url, _ = settings.require_urls()
    _run(lambda: _coarsen_cohorts(database_url))
    typer.echo("recounted the cohort rollup's coarse pieces")


def _print_pipeline(state: dict[str, object]) -> None:
    typer.echo(f"{state['stream']}:")
    for name in (
        "served",
        "enqueued",
        "spooled",
        "replayed",
        "stored",
        "dead_lettered",
        "discarded",
        "pixels_limited",
        "in_streams",
        "in_spool",
        "balance",
    ):
        typer.echo(f"{name:>14}  {state[name]}")
    for shard in state["shards"]:  # type: ignore[attr-defined]
        typer.echo(
            f"{shard['stream']:>14}  length {shard['length']}  lag {shard['lag']}  "
            f"pending {shard['pending']}  retrying {shard['retrying']}  "
            f"dead letters {shard['dead_letters']}"
        )
