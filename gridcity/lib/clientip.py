"""The client's address, for rate limits, throttles and logs.

Behind a load balancer every request comes from the balancer. Only when the peer is one of
GRIDCITY_TRUSTED_PROXIES (addresses or networks, e.g. "10.0.0.10, 10.0.1.0/24") is its
X-Forwarded-For believed, and then only from the right: each trusted proxy appends the address
it saw, so the right-most address that is not itself a trusted proxy is the client. Anything to
the left of it was written by the client and could be forged. With no trusted proxies the peer
(REMOTE_ADDR) is the client."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Where the answer is kept on the request, so that every caller (the middleware that rewrites
# REMOTE_ADDR, then a view's rate limit) gets the same address.
_MEMO = "gridcity.client_ip"


@lru_cache(maxsize=8)
def _networks(raw: tuple[str, ...]) -> tuple[Network, ...]:
    nets = []
    for item in raw:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"GRIDCITY_TRUSTED_PROXIES: {item!r} is not an address") from exc
    return tuple(nets)


def trusted_proxies() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "GRIDCITY_TRUSTED_PROXIES", ()) or ()))


def parse_address(text: str) -> Address | None:
    """An address as a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:80`.
    An IPv4 client seen on a dual-stack socket (::ffff:1.2.3.4) is that IPv4 address."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return getattr(addr, "ipv4_mapped", None) or addr


def client_ip(request: HttpRequest) -> str:
    memo = request.META.get(_MEMO)
    if memo:
        return memo
    remote = request.META.get("REMOTE_ADDR", "")
    peer = parse_address(remote)
    if peer is None:
        answer = remote.strip()[:64] or "unknown"
    else:
        nets = trusted_proxies()
        hop = peer
        if nets and any(peer in n for n in nets):
            for part in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
                addr = parse_address(part)
                if addr is None:
                    # Unparseable text was not written by our proxies: stop at the last
                    # address they vouched for.
                    break
                hop = addr
                if not any(addr in n for n in nets):
                    break
        answer = str(hop)
    request.META[_MEMO] = answer
    return answer
