"""What IP_ANONYMIZE's truncation costs a click, uncached. Prints its figures.

    .venv/bin/python -m loadtests.bench_anonymize [--addresses 200000]

Random IPv4 and IPv6 addresses, each truncated once (app.privacy.anonymize.truncate, the
socket module's C parser and printer), against the same with the `ipaddress` module.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time
from collections.abc import Callable

from app.privacy import anonymize


def with_ipaddress(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def per_call_us(function: Callable[[str], str], addresses: list[str]) -> float:
    started = time.perf_counter()
    for ip in addresses:
        function(ip)
    return (time.perf_counter() - started) / len(addresses) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(1)
    v4 = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(args.addresses)]
    v6 = [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(args.addresses)]
    for name, addresses in (("IPv4", v4), ("IPv6", v6)):
        fast = per_call_us(anonymize.truncate, addresses)
        slow = per_call_us(with_ipaddress, addresses)
        print(f"{name}: truncate {fast:.2f} us per address; with ipaddress {slow:.2f} us")


if __name__ == "__main__":
    main()
