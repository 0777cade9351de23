"""Which peers may speak for the client: ``reverse_proxy`` and ``trusted_proxy_ips``.

``X-Forwarded-For``, ``-Proto`` and the ``real_client_ip_header`` are taken from a request only when it
arrives from a trusted proxy (an ingress controller); from anyone else they are replaced by what the edge
itself sees. Without ``trusted_proxy_ips`` the trusted peers are loopback and the private networks
(RFC 1918, RFC 4193) where an ingress controller runs; ``reverse_proxy: false`` trusts no one. The
answer per peer address is remembered (bounded), so the hot path does one dict lookup.

The *client address* the logs show (:meth:`Trust.client`) is the peer itself, unless the peer is a
trusted proxy: then it is the right-most ``X-Forwarded-For`` entry that is not a trusted proxy (each
trusted hop vouches for the entry to its left; nginx's ``real_ip_recursive``), or ``X-Real-IP`` when the
proxy sent no ``X-Forwarded-For``. An entry that is not an IP address ends the walk at the last address
that was. It is computed only where a line is written (the access line, a login event), never per
request otherwise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
_MEMO_MAX = 4096
_INVALID, _UNTRUSTED, _TRUSTED = 0, 1, 2

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Trust:
    """Decides whether a peer address is a trusted proxy."""

    __slots__ = ("_entries", "_memo", "_networks", "_ranges")

    def __init__(self, networks: Sequence[str], *, enabled: bool = True) -> None:
        chosen = (networks or DEFAULT_TRUSTED) if enabled else ()
        self._networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in chosen)
        self._memo: dict[bytes, bool] = {}
        # (version, network, mask) as integers: a forwarded entry is checked with a few int operations
        self._ranges: tuple[tuple[int, int, int], ...] = tuple(
            (n.version, int(n.network_address), int(n.netmask)) for n in self._networks
        )
        # forwarded entries come from clients: remembered apart (and forgotten when full), so they
        # never crowd the peers out of ``_memo``
        self._entries: dict[bytes, int] = {}

    def trusts(self, peer: bytes) -> bool:
        """Whether ``peer`` (the text form of an IP address) is a trusted proxy."""
        hit = self._memo.get(peer)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(peer.decode("ascii"))
        except ValueError:
            ok = False
        else:
            mapped = getattr(addr, "ipv4_mapped", None)
            addr = mapped or addr
            ok = any(addr in n for n in self._networks)
        if len(self._memo) < _MEMO_MAX:
            self._memo[peer] = ok
        return ok

    def _kind(self, entry: bytes) -> int:
        """An ``X-Forwarded-For`` entry: not an address, an untrusted one, or a trusted proxy's."""
        kind = self._entries.get(entry)
        if kind is not None:
            return kind
        try:
            addr = ipaddress.ip_address(entry.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            kind = _INVALID
        else:
            mapped = getattr(addr, "ipv4_mapped", None)
            addr = mapped or addr
            version, value = addr.version, int(addr)
            kind = _UNTRUSTED
            for net_version, network, mask in self._ranges:
                if net_version == version and value & mask == network:
                    kind = _TRUSTED
                    break
        if len(self._entries) >= _MEMO_MAX:
            self._entries.clear()
        self._entries[entry] = kind
        return kind

    def client(self, peer: bytes, forwarded_for: bytes = b"", real_ip: bytes = b"") -> bytes:
        """The client's address behind the trusted proxies (see the module's docstring).

        ``peer``: the address the connection came from; ``forwarded_for`` and ``real_ip``: the request's
        ``X-Forwarded-For`` (every header's entries, comma-joined) and ``X-Real-IP``.
        """
        if not (forwarded_for or real_ip) or not self.trusts(peer):
            return peer
        if not forwarded_for:
            real = real_ip.strip()
            return real if self._kind(real) != _INVALID else peer
        found = peer
        for raw in reversed(forwarded_for.split(b",")):
            entry = raw.strip()
            kind = self._kind(entry)
            if kind == _INVALID:
                return found
            found = entry
            if kind == _UNTRUSTED:
                return found
        return found

    def forwarded_client(self, forwarded_for: str, real_ip: str = "") -> str:
        """:meth:`client` for the web apps behind the edge: ``forwarded_for`` is ``X-Forwarded-For`` as
        the edge sent it, whose last entry is the peer the edge saw (``""`` when it is missing)."""
        rest, _, peer = forwarded_for.rpartition(",")
        peer = peer.strip()
        if not peer:
            return ""
        try:
            found = self.client(peer.encode("ascii"), rest.encode("ascii"), real_ip.encode("ascii"))
        except UnicodeEncodeError:
            return peer
        return found.decode("ascii")


#: Whom the provider's routes trust (the provider has no deployment options).
DEFAULT_TRUST = Trust(())
