"""Where a webhook may be sent: public addresses, and the networks an operator allows.

A subscriber names the URL, so without a check iotrack would POST wherever it is told: to the
loopback services of its own machine (Postgres, the brokers' listeners, the ops ports), to an
internal network, or to a cloud's metadata address (169.254.169.254). A destination is allowed
when every address its host resolves to is a global unicast address, or lies in one of the
networks of ``IOTRACK_WEBHOOK_ALLOWED_NETWORKS`` (an intranet receiver; loopback for tests).

The check is made when a subscription is created or its URL changed (400 naming ``url``) and
again at every delivery, on the addresses then resolved; the request is sent to the address
checked (the host kept in ``Host`` and, for https, in the TLS server name), so a name that
resolves elsewhere between the check and the connection (DNS rebinding) is not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from streams.errors import ConfigError, StreamsError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class DestinationRefused(StreamsError):  # noqa: N818 - named after what happened to the URL
    """A webhook URL whose host is, or resolves to, an address iotrack does not send to."""


@dataclass(frozen=True)
class Pinned:
    """A request to make: the URL with the checked address in place of the host, and the
    host for the ``Host`` header and the TLS server name."""

    url: str
    host: str
    server_name: str | None
    """The TLS server name (the URL's host name; None when the URL names an address)."""


def parse_networks(text: str, key: str = "IOTRACK_WEBHOOK_ALLOWED_NETWORKS") -> tuple[Network, ...]:
    """Comma-separated networks (``10.1.0.0/16, 127.0.0.1/32``); ConfigError naming ``key``.

    >>> parse_networks("127.0.0.0/8, ::1/128")
    (IPv4Network('127.0.0.0/8'), IPv6Network('::1/128'))
    >>> parse_networks("intranet")
    Traceback (most recent call last):
    ...
    streams.errors.ConfigError: IOTRACK_WEBHOOK_ALLOWED_NETWORKS: 'intranet' is not a network ...
    """
    found: list[Network] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"{key}: {part!r} is not a network (expected e.g. 10.1.0.0/16 or 127.0.0.1/32)"
            ) from None
    return tuple(found)


def _resolve(host: str, port: int) -> list[str]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"url: the host {host!r} does not resolve ({exc})") from None
    return [str(info[4][0]) for info in found]


@dataclass(frozen=True)
class Destinations:
    """The rule: global unicast addresses, and ``allowed`` networks besides."""

    allowed: Sequence[Network] = ()
    resolve: Resolver = _resolve

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` is not sent to; None when it may be.

        >>> Destinations().refusal(ipaddress.ip_address("169.254.169.254"))
        '169.254.169.254 is a link-local address'
        >>> Destinations().refusal(ipaddress.ip_address("8.8.8.8")) is None
        True
        """
        if any(address in network for network in self.allowed):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            if address.is_site_local:
                return f"{address} is a site-local address"
            # An IPv4 address carried inside (mapped, 6to4, Teredo) is judged as itself.
            for carried in (address.ipv4_mapped, address.sixtofour):
                if carried is not None:
                    return self.refusal(carried)
            if address.teredo is not None:
                return self.refusal(address.teredo[1])
        for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
            if getattr(address, f"is_{kind}"):
                return f"{address} is a {kind.replace('_', '-')} address"
        if not address.is_global:
            return f"{address} is not a global address"
        return None

    def pin(self, url: str) -> Pinned:
        """Check ``url``'s host now and the request to make to it; DestinationRefused saying
        which address is refused and why."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise DestinationRefused(f"url: {url!r} is not an http(s) URL with a host")
        if parts.port == 0:
            raise DestinationRefused(f"url: {url!r} names port 0")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        named = False
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            named = True
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolve(host, port)]
        if not addresses:
            raise DestinationRefused(f"url: the host {host!r} resolves to no address")
        for address in addresses:
            why = self.refusal(address)
            if why is not None:
                # A name's addresses are not told to the subscriber (who would learn what
                # internal names resolve to); the operator finds them with its own resolver.
                where = f"the host {host} resolves to an address" if named else why
                raise DestinationRefused(
                    f"url: {where} where webhooks are not sent (allow its network with "
                    "IOTRACK_WEBHOOK_ALLOWED_NETWORKS)"
                )
        chosen = addresses[0]
        literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        userinfo, _, host_port = parts.netloc.rpartition("@")
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        netloc = f"{userinfo}@{netloc}" if userinfo else netloc
        pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        return Pinned(pinned, host_port, host if named else None)
