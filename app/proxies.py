"""Which X-Forwarded-For hops to believe: only those added by proxies we run."""

from __future__ import annotations

import ipaddress


class TrustedProxies:
    def __init__(self, networks: list[str]) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __bool__(self) -> bool:
        return bool(self._networks)

    def contains(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in self._networks)

    def client_ip(self, peer: str, forwarded_for: str | None) -> str:
        """The visitor's address: the peer, or the nearest untrusted X-Forwarded-For hop
        when the peer is a trusted proxy (hops further left could be forged)."""
        if not forwarded_for or not self.contains(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
            if hop and not self.contains(hop):
                return hop if _is_ip(hop) else peer
        return peer

    def origin(
        self,
        peer: str,
        *,
        scheme: str,
        host: str,
        forwarded_proto: str | None,
        forwarded_host: str | None,
    ) -> str:
        """`scheme://host` as the client asked for it: a trusted proxy's X-Forwarded-Proto
        and X-Forwarded-Host (their first value: the hop nearest the client) win over
        what this server saw. Only for checking signatures over the URL, never to build
        a redirect."""
        if self.contains(peer):
            if forwarded_proto and (first := forwarded_proto.split(",")[0].strip()):
                scheme = first.lower()
            if forwarded_host and (first := forwarded_host.split(",")[0].strip()):
                host = first
        return f"{scheme}://{host}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
