"""Where a postback's parameters come from, and which bytes its signature covers.

A request has a query string and, for a POST, maybe a body. Without a body, the query
string is both the parameters and the signed payload. With a body, the body is the signed
payload, so a signed request takes its parameters from the body alone: a query string
(outside the signature) never adds to or stands in for them. The one exception is the
`token`, which only says whose secret checks the signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import BadRequest
from app.postbacks import params

_TOKEN_NAMES = frozenset(params.ALIASES["token"])
_FORM = "application/x-www-form-urlencoded"


class UnsignedParameters(BadRequest):
    code = "unsigned_parameters"


@dataclass(frozen=True, slots=True)
class PostbackSources:
    query: bytes
    from_query: params.Raw
    # None when no body was sent (a GET, or a POST with an empty body).
    body: bytes | None = None
    from_body: params.Raw = field(default_factory=dict)
    media_type: str = ""

    @property
    def token(self) -> str | None:
        return params.token_of(self.from_body) or params.token_of(self.from_query)

    @property
    def signed_payload(self) -> bytes:
        return self.query if self.body is None else self.body

    def parameters(self, *, signed: bool) -> params.Raw:
        """The parameters to use; for a signed request, only ones its signature covers."""
        if self.body is None:
            return self.from_query
        if signed:
            self._check_signed_body()
            return self.from_body
        if self.from_body:
            # A body carries the conversion whole: query parameters are not mixed in,
            # except the token, which often sits in the URL.
            raw = dict(self.from_body)
            query_token = params.token_of(self.from_query)
            if query_token and not params.token_of(raw):
                raw["token"] = query_token
            return raw
        # Unsigned, nothing covers anything: a body without parameters leaves the query.
        return self.from_query

    def _check_signed_body(self) -> None:
        first = (self.body or b"").lstrip(b" \t\r\n\xef\xbb\xbf")[:1]  # a UTF-8 BOM too
        if self.media_type == _FORM and first in (b"{", b"["):
            # A signed JSON body read as a form: its bytes would mean other parameters.
            raise UnsignedParameters(
                "this advertiser signs postbacks: the body is JSON, send it as application/json"
            )
        if not self.from_body.keys() - _TOKEN_NAMES:
            raise UnsignedParameters(
                "this advertiser signs postbacks: the signed body gives no parameters "
                "(query parameters are not covered by the signature)"
            )
