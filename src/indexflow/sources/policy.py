"""Which sources a remote caller may name: the policy the HTTP API applies to ``{"uri": …}``.

The library and the CLI read any path or fsspec URI: the person at the machine chose it. A URI
that arrives over the API was chosen by a caller, and reading it on the server's behalf is a
server-side request forgery risk (the server's own files, its loopback services, the cloud
metadata endpoint, the private network). ``Indexflow.enqueue_source(..., policy=UriPolicy(...))``
checks such a source before anything is read or registered:

- **schemes**: an allowlist (``http``, ``https``, ``s3``, ``gs``/``gcs``, ``az``/``abfs``/``abfss``);
  fsspec chaining (``simplecache::…``) is refused, and so is every other fsspec protocol;
- **local paths** (bare paths, ``file://``, ``local://``): only with ``allow_local_paths``, only
  one file, and only under ``local_roots`` after symlinks and ``..`` are resolved (the opened file
  is checked again, so a path swapped for a symlink in between is refused too);
- **http(s)** is fetched by :func:`indexflow.sources.uri.fetch_http`, not fsspec: the host is
  resolved once, every address is classified (:func:`classify_address`) and refused unless the
  host is in ``allow_hosts``; the connection goes to the vetted address (the original Host header
  and TLS SNI are sent), so DNS cannot answer differently in between; redirects are followed by
  hand and every hop is vetted again. A refused address is never contacted, so refusals say
  nothing about which ports are open.

Every refusal is an :class:`~indexflow.errors.InvalidRequest` naming the reason.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from indexflow.domain.ids import basename
from indexflow.errors import InputTooLarge, InvalidRequest, NotFound, TransientError
from indexflow.sources.local import Source

if TYPE_CHECKING:
    import httpx

    from indexflow.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]

HTTP_SCHEMES = ("http", "https")
ALLOWED_SCHEMES = ("http", "https", "s3", "gs", "gcs", "az", "abfs", "abfss")
LOCAL_SCHEMES = ("file", "local")
MAX_REDIRECTS = 5

METADATA = "a cloud metadata address"
# Instance metadata / host agent endpoints (most are link-local anyway; some are not).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, …
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure WireServer (a public address, reachable only from inside Azure)
    )
)
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not globally routed
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix embeds an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")


def classify_address(address: IPAddress | str) -> str | None:
    """Why an address may not be fetched ("a loopback address", …), or ``None`` for a public one.

    IPv4-mapped (``::ffff:127.0.0.1``), 6to4 and NAT64 IPv6 addresses are judged by the IPv4
    address they carry.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        ip = ip.ipv4_mapped or ip.sixtofour or nat64 or ip
    if ip in METADATA_ADDRESSES:
        return METADATA
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or ip in _NAT64_LOCAL:
        return "a private address"
    if ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if not ip.is_global:
        return "a non-public address"
    return None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (the system resolver), in its order, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise TransientError(f"host {host}: name resolution failed for now") from exc
        raise InvalidRequest(f"host {host} cannot be resolved") from exc
    except UnicodeError as exc:
        raise InvalidRequest(f"host {host} is not a valid host name") from exc
    out: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """An http(s) URL whose host was vetted: connect to ``addresses``, send ``host_header``."""

    url: httpx.URL
    host: str
    host_header: str
    addresses: tuple[IPAddress, ...]


class UriPolicy:
    """What a remote caller may ingest by URI (see the module docstring).

    Args:
        allow_local_paths: let bare paths, ``file://`` and ``local://`` through (under ``local_roots``).
        local_roots: the folders local paths must resolve into; none = no local path is allowed.
        allow_hosts: host names, addresses or networks (``10.0.0.0/8``) fetched even though they
            resolve to non-public addresses; a cloud metadata address must be listed itself.
        timeout: seconds for a connect and for each read; a whole download gets ``10 × timeout``.
        schemes: the allowlist (a subset of :data:`ALLOWED_SCHEMES` makes sense).
        resolver: host → addresses (tests inject one; default the system resolver).
        allow_private: let every non-public address through (loopback, private, link-local …)
            but a cloud metadata one, which must still be listed in ``allow_hosts``.
        hint: how to allow a refused address, named in the refusal.
        verify: TLS verification for https (an ``ssl.SSLContext`` for a private CA; default the
            system's CAs); certificates are checked against the URL's host name, not the address.
    """

    def __init__(
        self,
        *,
        allow_local_paths: bool = False,
        local_roots: Iterable[str | os.PathLike[str]] = (),
        allow_hosts: Iterable[str] = (),
        timeout: float = 30.0,
        schemes: Iterable[str] = ALLOWED_SCHEMES,
        max_redirects: int = MAX_REDIRECTS,
        resolver: Resolver = resolve_host,
        verify: ssl.SSLContext | bool = True,
        allow_private: bool = False,
        hint: str = "list it in INDEXFLOW_API_ALLOW_HOSTS to allow it",
    ) -> None:
        self.allow_local_paths = allow_local_paths
        self.local_roots = tuple(Path(r).expanduser().resolve() for r in local_roots)
        self.allow_hosts = tuple(h.strip().lower() for h in allow_hosts if h.strip())
        self.timeout = timeout
        self.total_timeout = 10 * timeout
        self.schemes = tuple(s.lower() for s in schemes)
        self.max_redirects = max_redirects
        self.resolver = resolver
        self.verify = verify
        self.allow_private = allow_private
        self.hint = hint
        self._allowed_names: set[str] = set()
        self._allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in self.allow_hosts:
            try:
                self._allowed_networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self._allowed_names.add(entry.rstrip("."))

    @classmethod
    def from_settings(cls, settings: Settings) -> UriPolicy:
        """The API's policy: ``api_allow_local_paths``, ``api_local_roots``, ``api_allow_hosts``."""
        return cls(
            allow_local_paths=settings.api_allow_local_paths,
            local_roots=settings.api_local_roots,
            allow_hosts=settings.api_allow_hosts,
            timeout=settings.uri_timeout_seconds,
        )

    @classmethod
    def for_webhooks(cls, settings: Settings) -> UriPolicy:
        """Where webhooks may POST: http(s) to public addresses, plus ``webhook_allow_hosts``, plus
        every non-public address but cloud metadata with ``webhook_allow_private``."""
        return cls(
            allow_hosts=settings.webhook_allow_hosts,
            allow_private=settings.webhook_allow_private,
            timeout=settings.webhook_timeout_seconds,
            schemes=HTTP_SCHEMES,
            max_redirects=0,
            hint="set INDEXFLOW_WEBHOOK_ALLOW_PRIVATE=true or list it in INDEXFLOW_WEBHOOK_ALLOW_HOSTS",
        )

    # -- the checks -------------------------------------------------------------------------------
    def source(self, uri: str) -> Source:
        """Check ``uri`` and name the document it is (a local path comes back resolved).

        Raises:
            InvalidRequest: the policy refuses it; nothing was read and no address contacted.
        """
        kind, value = self._admit(uri)
        if kind == "local":
            path = self._local(value, uri)
            if path.is_dir():
                raise InvalidRequest(f"{uri} is a folder: the API ingests one file at a time")
            return Source(str(path), path.name)
        return Source(value, basename(value))

    def read(self, uri: str, max_bytes: int) -> bytes:
        """Check ``uri`` again and read at most ``max_bytes`` from it."""
        kind, value = self._admit(uri)
        if kind == "local":
            return self._read_local(self._local(value, uri), uri, max_bytes)
        from indexflow.sources import uri as uri_module

        if kind == "http":
            return uri_module.fetch_http(value, max_bytes, self)
        return uri_module.read_uri(value, max_bytes)

    def vet_http(self, url_text: str) -> HttpTarget:
        """Parse an http(s) URL and vet every address its host resolves to (no connection made)."""
        import httpx

        try:
            url = httpx.URL(url_text)
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise InvalidRequest(f"{url_text}: not a valid URL ({exc})") from exc
        self._check_scheme(url.scheme, url_text)
        if url.scheme not in HTTP_SCHEMES:
            raise InvalidRequest(f"{url_text}: only http(s) can be fetched here")
        try:
            host = url.raw_host.decode("ascii").lower()
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"{url_text}: not a valid host name") from exc
        if not host:
            raise InvalidRequest(f"{url_text}: the URL has no host")
        port = url.port or (443 if url.scheme == "https" else 80)
        name = host.rstrip(".")
        by_name = name in self._allowed_names
        lenient = by_name or self.allow_private  # non-public addresses pass; metadata never does
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses: Sequence[IPAddress] = [literal]
        else:
            if not _HOSTNAME.match(host):
                raise InvalidRequest(f"{url_text}: {host!r} is not a valid host name")
            if not lenient and (name == "localhost" or name.endswith(".localhost")):
                raise InvalidRequest(f"{url_text}: host {host} resolves to a loopback address ({self.hint})")
            if not by_name and name in METADATA_HOSTS:
                raise InvalidRequest(f"{url_text}: host {host} is a cloud metadata host")
            try:
                addresses = self.resolver(host, port)
            except InvalidRequest as exc:
                raise InvalidRequest(f"{url_text}: {exc}") from exc
            if not addresses:
                raise InvalidRequest(f"{url_text}: host {host} cannot be resolved")
        for ip in addresses:
            reason = classify_address(ip)
            if reason is None or any(ip in net for net in self._allowed_networks):
                continue
            if lenient and reason != METADATA:
                continue
            raise InvalidRequest(f"{url_text}: host {host} resolves to {reason} ({self.hint})")
        netloc = url.netloc.decode("ascii")
        return HttpTarget(url=url, host=host, host_header=netloc, addresses=tuple(addresses))

    def _admit(self, uri: str) -> tuple[str, str]:
        """("local", path) | ("http", url) | ("fsspec", uri) — string checks only."""
        if "\x00" in uri:
            raise InvalidRequest("the source contains a NUL byte")
        if not uri.strip():
            raise InvalidRequest("the source is empty")
        match = _SCHEME.match(uri)
        scheme = match.group(1).lower() if match else None
        if scheme in HTTP_SCHEMES:
            self._check_scheme(scheme, uri)
            return "http", uri  # fetched by hand: '::' means nothing there (and IPv6 has it)
        if "::" in uri:
            raise InvalidRequest(f"{uri}: URI chaining ('::') is not allowed")
        if scheme is None:
            return "local", uri
        if scheme in LOCAL_SCHEMES:
            parts = urlsplit(uri)
            if parts.netloc not in ("", "localhost"):
                raise InvalidRequest(f"{uri}: a {scheme}:// URI with a host is not allowed")
            return "local", unquote(parts.path)
        self._check_scheme(scheme, uri)
        return "fsspec", f"{scheme}{uri[len(scheme) :]}"

    def _check_scheme(self, scheme: str, uri: str) -> None:
        if scheme not in self.schemes:
            allowed = ", ".join(self.schemes)
            raise InvalidRequest(f"{uri}: scheme {scheme!r} is not allowed; allowed: {allowed}")

    def _local(self, text: str, given: str) -> Path:
        if not self.allow_local_paths:
            raise InvalidRequest(
                f"{given}: local paths are not allowed (set INDEXFLOW_API_ALLOW_LOCAL_PATHS=true"
                " and list the folders in INDEXFLOW_API_LOCAL_ROOTS)"
            )
        try:
            path = Path(text).resolve()  # symlinks and '..' first, then the check
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
            raise InvalidRequest(f"{given}: cannot resolve the path") from exc
        if not self._under_roots(path):
            raise InvalidRequest(f"{given} is outside INDEXFLOW_API_LOCAL_ROOTS")
        return path

    def _under_roots(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self.local_roots)

    def _read_local(self, path: Path, given: str, max_bytes: int) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError as exc:
            raise NotFound(f"{given}: no such file") from exc
        except OSError as exc:
            raise InvalidRequest(f"{given}: cannot read: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise InvalidRequest(f"{given} is a folder: the API ingests one file at a time")
            if not stat.S_ISREG(info.st_mode):
                raise InvalidRequest(f"{given} is not a regular file")
            opened = _opened_path(fd)
            if opened is not None and not self._under_roots(opened):
                raise InvalidRequest(f"{given} is outside INDEXFLOW_API_LOCAL_ROOTS")
            if info.st_size > max_bytes:
                raise InputTooLarge(f"{given}: {info.st_size} bytes is over the {max_bytes}-byte limit")
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InputTooLarge(f"{given}: over the {max_bytes}-byte limit")
        return data


def _opened_path(fd: int) -> Path | None:
    """Where an open file really is (Linux: /proc/self/fd), or None where that cannot be told."""
    link = Path(f"/proc/self/fd/{fd}")
    try:
        return Path(os.readlink(link)) if link.parent.is_dir() else None
    except OSError:
        return None
