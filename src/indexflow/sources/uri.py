"""URI sources: anything fsspec reads (s3://, gs://, https://, …), read with a byte limit.

:func:`read_uri` is what the library and the CLI use for any URI. :func:`fetch_http` is how a
:class:`~indexflow.sources.policy.UriPolicy` (the HTTP API's) reads http(s): every hop's host is
vetted first, the connection goes to the vetted address, redirects are followed by hand, and the
timeouts and the byte limit apply while the body streams.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from indexflow.errors import InputTooLarge, InvalidRequest, NotFound, TransientError

if TYPE_CHECKING:
    import httpx

    from indexflow.sources.policy import HttpTarget, UriPolicy

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def read_uri(uri: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of the object ``uri`` names, with fsspec.

    Raises:
        ConfigurationError: the scheme's package is missing (the message names the extra).
        NotFound, InvalidRequest, TransientError: see :func:`indexflow.sources.remote.translated`.
        InputTooLarge: it is over ``max_bytes``.
    """
    from indexflow.sources.remote import filesystem, translated

    fs, path = filesystem(uri)
    with translated(uri), fs.open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputTooLarge(f"{uri}: over the {max_bytes}-byte limit")
    return bytes(data)


def fetch_http(url: str, max_bytes: int, policy: UriPolicy) -> bytes:
    """GET an http(s) URL under ``policy``: at most ``policy.max_redirects`` hops, each one vetted.

    Raises:
        InvalidRequest: a hop the policy refuses (never contacted), or a refusing answer (4xx).
        NotFound: 404 or 410.
        InputTooLarge: the body is over ``max_bytes`` (declared, or counted while it streams).
        TransientError: timed out, connection failed, or the server answered 408, 429 or 5xx.
    """
    deadline = time.monotonic() + policy.total_timeout
    current = url
    for hop in range(policy.max_redirects + 1):
        try:
            target = policy.vet_http(current)
        except InvalidRequest as exc:
            if hop == 0:
                raise
            raise InvalidRequest(f"{url}: redirected to a refused target: {exc}") from exc
        body, location = _get(target, max_bytes, policy, deadline, url)
        if location is None:
            return body
        current = location
    raise InvalidRequest(f"{url}: more than {policy.max_redirects} redirects")


def _get(
    target: HttpTarget, max_bytes: int, policy: UriPolicy, deadline: float, origin: str
) -> tuple[bytes, str | None]:
    """One GET to the vetted addresses in turn: (body, None), or (b"", the next URL) for a redirect."""
    import httpx

    timeout = httpx.Timeout(policy.timeout)
    extensions = {"sni_hostname": target.host.rstrip(".")} if target.url.scheme == "https" else {}
    headers = {"Host": target.host_header, "Accept-Encoding": "identity", "User-Agent": "indexflow"}
    failure: httpx.HTTPError | None = None
    for address in target.addresses:
        pinned = target.url.copy_with(host=str(address))
        # A fresh client per hop: no connection opened for one host name is reused for another;
        # trust_env=False: no proxy from the environment (it would connect somewhere unvetted).
        with httpx.Client(
            trust_env=False, timeout=timeout, follow_redirects=False, verify=policy.verify
        ) as client:
            try:
                with client.stream("GET", pinned, headers=headers, extensions=extensions) as response:
                    return _consume(response, target, max_bytes, (deadline, policy.total_timeout), origin)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc  # the next vetted address, if any
            except httpx.TimeoutException as exc:
                raise TransientError(f"{origin}: timed out after {policy.timeout:g} s") from exc
            except httpx.DecodingError as exc:
                raise InvalidRequest(f"{origin}: cannot decode the response: {exc}") from exc
            except httpx.HTTPError as exc:
                raise TransientError(f"{origin}: {exc}") from exc
    if isinstance(failure, httpx.ConnectTimeout):
        raise TransientError(f"{origin}: timed out connecting after {policy.timeout:g} s") from failure
    raise TransientError(f"{origin}: cannot connect to {target.host}: {failure}") from failure


def _consume(
    response: httpx.Response,
    target: HttpTarget,
    max_bytes: int,
    deadline: tuple[float, float],
    origin: str,
) -> tuple[bytes, str | None]:
    status = response.status_code
    if status in _REDIRECTS:
        location = response.headers.get("location")
        if not location:
            raise InvalidRequest(f"{origin}: redirect ({status}) without a Location")
        return b"", str(target.url.join(location))
    if status in (404, 410):
        raise NotFound(f"{origin}: not found ({status})")
    if status in (408, 429) or status >= 500:
        raise TransientError(f"{origin}: the server answered {status}")
    if not 200 <= status < 300:
        raise InvalidRequest(f"{origin}: the server answered {status}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise InputTooLarge(f"{origin}: {declared} bytes is over the {max_bytes}-byte limit")
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > max_bytes:
            raise InputTooLarge(f"{origin}: over the {max_bytes}-byte limit")
        if time.monotonic() > deadline[0]:
            raise TransientError(f"{origin}: the download took longer than {deadline[1]:g} s")
    return bytes(data), None


def post_http(target: HttpTarget, body: bytes, headers: dict[str, str], policy: UriPolicy) -> int:
    """POST ``body`` to a vetted target (``policy.vet_http``): its addresses in turn, no redirect.

    The connection goes to the vetted address (the Host header and TLS SNI name the URL's host);
    no proxy from the environment is used. The answer's body is read (at most 64 KiB) and dropped.

    Returns:
        The receiver's HTTP status (a redirect is an answer like any other: not followed).

    Raises:
        TransientError: no address accepted the connection, or the attempt timed out.
    """
    import httpx

    extensions = {"sni_hostname": target.host.rstrip(".")} if target.url.scheme == "https" else {}
    sent = {"User-Agent": "indexflow", **headers, "Host": target.host_header}
    timeout = httpx.Timeout(policy.timeout)
    failure: httpx.HTTPError | None = None
    for address in target.addresses:
        pinned = target.url.copy_with(host=str(address))
        with httpx.Client(
            trust_env=False, timeout=timeout, follow_redirects=False, verify=policy.verify
        ) as client:
            try:
                post = client.stream("POST", pinned, content=body, headers=sent, extensions=extensions)
                with post as response:
                    read = 0
                    for chunk in response.iter_raw():
                        read += len(chunk)
                        if read > 65_536:
                            break
                    return response.status_code
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc  # the next vetted address, if any
            except httpx.TimeoutException as exc:
                raise TransientError(f"{target.host}: timed out after {policy.timeout:g} s") from exc
            except httpx.HTTPError as exc:
                raise TransientError(f"{target.host}: {exc}") from exc
    raise TransientError(f"cannot connect to {target.host}: {failure}") from failure
