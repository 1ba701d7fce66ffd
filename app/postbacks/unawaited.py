"""The postback intake as the edge's own protocol starts it (app.edge.front): no await
up to the group commit, the answer from the batch's callback, by the rules of
`service.accept_postback` (which this defers to whenever an answer needs an await)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from app.errors import AppError
from app.postbacks import freshness, params, service
from app.postbacks.sources import PostbackSources
from app.streams.durable_queue import CommitFailed, Refused, Unconfirmed


def start(
    intake: service.Intake,
    *,
    query: bytes,
    peer: str,
    forwarded_for: str | None,
    signature: str | None,
    then: Callable[[AppError | None], object],
    later: Callable[[Coroutine[Any, Any, None]], object],
) -> None:
    """A postback without a body (`GET /postback`), started without awaiting: the edge's
    hot path (app.edge.front), by the rules of `accept_postback`. Judged against the cache
    as it is and submitted to the group commit; once its batch is answered, `then(None)`
    (accepted). When its answer needs an await (a refusal, confirmed against a catalog
    version read after it; a record the stream refused as stale; a batch Redis did not
    take, for the spool), `later` is given the coroutine that ends as the answer does:
    returning (accepted) or raising AppError. `then(error)` at once for a query that
    does not parse, as `receive_postback` raises it."""
    try:
        raw = params.from_query(query)
    except AppError as exc:
        then(exc)
        return
    version = intake.cache.version
    try:
        # `judge` of `service.query_sources(query)`, which only a refusal builds.
        record = service.judge_query(
            intake, query, raw, peer=peer, forwarded_for=forwarded_for, signature=signature
        )
    except AppError:
        # The refusal's confirmation awaits: `accept_postback` judges it again and says.
        later(
            service.accept_postback(
                intake,
                sources=PostbackSources(query=query, from_query=raw),
                peer=peer,
                forwarded_for=forwarded_for,
                signature=signature,
            )
        )
        return

    committed = _Committed(intake, query, raw, peer, forwarded_for, signature, record, then, later)
    intake.queue.submit_then(record, committed, admission=freshness.admission_args(version))


class _Committed:
    """A judged postback's batch callback: one object (not a closure's function and its
    cells) is what waits for the batch, 64 connections' worth at a time."""

    __slots__ = (
        "forwarded_for",
        "intake",
        "later",
        "peer",
        "query",
        "raw",
        "record",
        "signature",
        "then",
    )

    def __init__(
        self,
        intake: service.Intake,
        query: bytes,
        raw: params.Raw,
        peer: str,
        forwarded_for: str | None,
        signature: str | None,
        record: bytes,
        then: Callable[[AppError | None], object],
        later: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        self.intake, self.query, self.raw, self.peer = intake, query, raw, peer
        self.forwarded_for, self.signature, self.record = forwarded_for, signature, record
        self.then, self.later = then, later

    def __call__(self, outcome: bool | Exception) -> None:
        if outcome is True or outcome is False:
            self.then(None)
        elif isinstance(outcome, Refused):
            sources = PostbackSources(query=self.query, from_query=self.raw)
            self.later(
                _after_refusal(self.intake, sources, self.peer, self.forwarded_for, self.signature)
            )
        elif isinstance(outcome, CommitFailed | Unconfirmed):
            self.later(_kept(self.intake, self.record, outcome))
        else:
            self.later(_raise(outcome))


async def _after_refusal(
    intake: service.Intake,
    sources: PostbackSources,
    peer: str,
    forwarded_for: str | None,
    signature: str | None,
) -> None:
    """`accept_postback` after the stream refused a postback judged on a stale cache."""
    await intake.cache.current()
    await service.accept_postback(
        intake,
        sources=sources,
        peer=peer,
        forwarded_for=forwarded_for,
        signature=signature,
        judgements=service.JUDGEMENTS - 1,
    )


async def _kept(intake: service.Intake, record: bytes, failure: CommitFailed | Unconfirmed) -> None:
    """What `accept_postback`'s `put` does with a batch Redis did not take: the spool."""
    try:
        await intake.queue.keep(record, failure)
    except CommitFailed:
        raise service.Unavailable(service.NOT_QUEUED) from None


async def _raise(error: Exception) -> None:
    raise error
