from app.proxies import TrustedProxies


def test_forwarded_for_is_believed_only_from_a_trusted_peer() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client_ip("10.0.0.5", "203.0.113.9") == "203.0.113.9"
    assert proxies.client_ip("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_the_nearest_untrusted_hop_wins_over_forged_ones() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    # The visitor forged "1.2.3.4"; our proxy appended the address it saw.
    assert proxies.client_ip("10.0.0.5", "1.2.3.4, 203.0.113.9, 10.0.0.9") == "203.0.113.9"
    assert proxies.client_ip("10.0.0.5", "garbage") == "10.0.0.5"


def test_the_origin_is_the_forwarded_one_only_from_a_trusted_peer() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    forwarded = {"forwarded_proto": "HTTPS", "forwarded_host": "hooks.example.com, inner:8000"}
    assert (
        proxies.origin("10.0.0.5", scheme="http", host="app:8000", **forwarded)
        == "https://hooks.example.com"
    )
    assert (
        proxies.origin("198.51.100.7", scheme="http", host="app:8000", **forwarded)
        == "http://app:8000"
    )
    assert (
        proxies.origin(
            "10.0.0.5", scheme="http", host="app:8000", forwarded_proto=None, forwarded_host=""
        )
        == "http://app:8000"
    )
