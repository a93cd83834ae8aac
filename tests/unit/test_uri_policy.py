"""The URI policy of the HTTP API: which addresses, schemes and paths a remote caller may name.

Nothing here opens a connection: the resolver is injected where a host name is involved, and a
refusal must happen before any connection anyway.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from indexflow.errors import InputTooLarge, InvalidRequest
from indexflow.settings import Settings
from indexflow.sources import UriPolicy, classify_address
from indexflow.sources.policy import Resolver


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped IPv6
        ("2002:7f00:1::", "a loopback address"),  # 6to4 around 127.0.0.1
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 around 127.0.0.1
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "an unspecified address"),
        ("::", "an unspecified address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("168.63.129.16", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("fc00::1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ],
)
def test_a_non_public_address_is_classified_with_its_reason(address: str, reason: str) -> None:
    # given an address a server must not fetch for a caller; when classified; then the reason
    assert classify_address(address) == reason
    assert classify_address(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_a_public_address_has_no_reason(address: str) -> None:
    # given public addresses (also an IPv4-mapped and a NAT64 one); then they pass
    assert classify_address(address) is None


def _resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise InvalidRequest(f"host {host} cannot be resolved")
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "host 127.0.0.1 resolves to a loopback address"),
        ("http://[::1]:8080/x", "host ::1 resolves to a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "resolves to a loopback address"),
        ("http://0x7f000001/", "host 0x7f000001 resolves to a loopback address"),
        ("http://2130706433/", "resolves to a loopback address"),
        ("http://127.1/", "resolves to a loopback address"),
        ("http://localhost/", "host localhost resolves to a loopback address"),
        ("http://localhost./", "host localhost. resolves to a loopback address"),
        ("http://app.localhost/", "resolves to a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "resolves to a cloud metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "is a cloud metadata host"),
        ("https://10.0.0.8/", "resolves to a private address"),
        ("http://internal.example/", "host internal.example resolves to a private address"),
        ("http://rebind.example/", "resolves to a loopback address"),  # one bad address is enough
        ("http://nowhere.example/", "host nowhere.example cannot be resolved"),
        ("http:///path", "has no host"),
    ],
)
def test_an_http_url_to_a_refused_address_is_refused_with_its_reason(url: str, reason: str) -> None:
    # given the default policy and a resolver that knows a few names
    table = {
        "internal.example": ["10.9.8.7"],
        "rebind.example": ["93.184.215.14", "127.0.0.1"],
        "0x7f000001": ["127.0.0.1"],
        "2130706433": ["127.0.0.1"],
        "127.1": ["127.0.0.1"],
    }
    policy = UriPolicy(resolver=_resolver(table))
    # when the URL is vetted; then it is refused, saying why
    with pytest.raises(InvalidRequest) as caught:
        policy.vet_http(url)
    assert reason in str(caught.value)


def test_the_system_resolver_sees_through_numeric_host_forms() -> None:
    # given the real resolver (numeric forms resolve without DNS)
    policy = UriPolicy()
    # when shorthand, hexadecimal and decimal forms of 127.0.0.1 are vetted; then all are loopback
    for url in ("http://0x7f000001/", "http://2130706433/", "http://127.1/", "http://017700000001/"):
        with pytest.raises(InvalidRequest, match="resolves to a loopback address"):
            policy.vet_http(url)


def test_allowed_hosts_pass_and_connections_go_to_the_vetted_address() -> None:
    # given a name, an address and a network in the allowlist
    calls: list[str] = []
    table = {"docs.internal": ["10.1.1.1"], "wiki.corp": ["10.2.0.5"], "other.corp": ["10.3.0.1"]}
    policy = UriPolicy(
        allow_hosts=["Docs.Internal.", "127.0.0.1", "10.2.0.0/16"], resolver=_resolver(table, calls)
    )
    # when vetted; then the allowed ones pass with the addresses to connect to, resolved once
    target = policy.vet_http("http://docs.internal:8080/a?b=1")
    assert target.addresses == (ipaddress.ip_address("10.1.1.1"),)
    assert target.host_header == "docs.internal:8080" and calls == ["docs.internal"]
    assert policy.vet_http("http://127.0.0.1:9/").addresses == (ipaddress.ip_address("127.0.0.1"),)
    assert policy.vet_http("http://wiki.corp/").host == "wiki.corp"
    # and a name outside the allowlist is still refused
    with pytest.raises(InvalidRequest, match="private address"):
        policy.vet_http("http://other.corp/")


def test_an_allowed_name_that_resolves_to_a_metadata_address_is_still_refused() -> None:
    # given an allowlisted name whose DNS now answers with the metadata address
    resolver = _resolver({"docs.internal": ["169.254.169.254"]})
    policy = UriPolicy(allow_hosts=["docs.internal"], resolver=resolver)
    # then it is refused: a metadata address must be listed itself
    with pytest.raises(InvalidRequest, match="cloud metadata address"):
        policy.vet_http("http://docs.internal/")
    listed = UriPolicy(allow_hosts=["169.254.169.254"])
    assert listed.vet_http("http://169.254.169.254/").host == "169.254.169.254"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("ftp://127.0.0.1:1/x", "scheme 'ftp' is not allowed; allowed: http, https, s3"),
        ("memory://bucket/x.txt", "scheme 'memory' is not allowed"),
        ("sftp://host/x", "scheme 'sftp' is not allowed"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme 'gopher' is not allowed"),
        ("simplecache::file:///etc/hostname", "URI chaining ('::') is not allowed"),
        ("s3://bucket/key::file:///etc/passwd", "URI chaining"),
        ("local:///etc/passwd", "local paths are not allowed"),
        ("file:///etc/passwd", "local paths are not allowed"),
        ("/etc/passwd", "local paths are not allowed"),
        ("../../etc/passwd", "local paths are not allowed"),
        ("/etc/passwd\x00.txt", "NUL byte"),
        ("", "empty"),
    ],
)
def test_a_refused_scheme_or_path_is_refused_before_anything_is_read(uri: str, reason: str) -> None:
    # given the default policy; when a source is checked; then it is refused, saying why
    with pytest.raises(InvalidRequest) as caught:
        UriPolicy().source(uri)
    assert reason in str(caught.value)


def test_allowed_cloud_schemes_pass_the_check_untouched() -> None:
    # given the default policy; when cloud URIs are checked; then they pass (fsspec reads them)
    for uri in (
        "s3://bucket/docs/a.pdf",
        "gs://b/a.txt",
        "az://c/a.md",
        "abfs://c@acct.dfs.core.windows.net/a",
    ):
        assert UriPolicy().source(uri).source == uri


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "doc.txt").write_text("inside")
    outside = tmp_path / "secret.txt"
    outside.write_text("outside")
    (root / "escape.txt").symlink_to(outside)
    (root / "link-dir").symlink_to(tmp_path)
    (root / "inner.txt").symlink_to(root / "sub" / "doc.txt")
    return root, outside


def test_local_paths_are_read_only_under_the_local_roots(roots: tuple[Path, Path]) -> None:
    # given local paths allowed under one root
    root, outside = roots
    policy = UriPolicy(allow_local_paths=True, local_roots=[root])
    # when paths inside are checked and read; then they are, by their resolved path
    for given in (str(root / "sub" / "doc.txt"), f"file://{root}/sub/doc.txt", f"local://{root}/sub/doc.txt"):
        src = policy.source(given)
        assert src.source == str((root / "sub" / "doc.txt").resolve()) and src.filename == "doc.txt"
        assert policy.read(src.source, 100) == b"inside"
    assert policy.read(str(root / "inner.txt"), 100) == b"inside"  # a symlink that stays inside
    with pytest.raises(InputTooLarge):
        policy.read(str(root / "sub" / "doc.txt"), 3)
    # and '..', symlinks to outside, folders and other hosts are refused
    for escape in (
        f"{root}/sub/../../secret.txt",
        str(root / "escape.txt"),
        str(root / "link-dir" / "secret.txt"),
        str(outside),
        "/etc/passwd",
    ):
        with pytest.raises(InvalidRequest, match="is outside INDEXFLOW_API_LOCAL_ROOTS"):
            policy.source(escape)
        with pytest.raises(InvalidRequest, match="is outside INDEXFLOW_API_LOCAL_ROOTS"):
            policy.read(escape, 100)
    with pytest.raises(InvalidRequest, match="is a folder"):
        policy.source(str(root / "sub"))
    with pytest.raises(InvalidRequest, match="with a host is not allowed"):
        policy.source(f"file://otherhost{root}/sub/doc.txt")


def test_local_paths_allowed_without_roots_allow_nothing(roots: tuple[Path, Path]) -> None:
    # given local paths allowed but no root listed; then every path is outside the roots
    root, _ = roots
    with pytest.raises(InvalidRequest, match="is outside INDEXFLOW_API_LOCAL_ROOTS"):
        UriPolicy(allow_local_paths=True).source(str(root / "sub" / "doc.txt"))


def test_a_file_swapped_for_a_symlink_after_the_check_is_not_read(roots: tuple[Path, Path]) -> None:
    # given a file that passed the check, then replaced by a symlink to a file outside the roots
    root, outside = roots
    policy = UriPolicy(allow_local_paths=True, local_roots=[root])
    src = policy.source(str(root / "sub" / "doc.txt"))
    (root / "sub" / "doc.txt").unlink()
    (root / "sub" / "doc.txt").symlink_to(outside)
    # when it is read; then it is refused (the final symlink is not followed)
    with pytest.raises(InvalidRequest):
        policy.read(src.source, 100)


def test_the_policy_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given the policy's settings as environment lists
    roots = f"{tmp_path / 'a'},{tmp_path / 'b'}{os.pathsep}{tmp_path / 'c'}"
    monkeypatch.setenv("INDEXFLOW_API_LOCAL_ROOTS", roots)
    monkeypatch.setenv("INDEXFLOW_API_ALLOW_HOSTS", "docs.internal, 10.0.0.0/8,::1")
    monkeypatch.setenv("INDEXFLOW_URI_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("INDEXFLOW_API_MAX_JSON_BYTES", "4096")
    s = Settings()
    # then they are parsed (comma or os.pathsep for folders, commas for hosts)
    assert s.api_local_roots == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    assert s.api_allow_hosts == ["docs.internal", "10.0.0.0/8", "::1"]
    assert (s.uri_timeout_seconds, s.api_max_json_bytes) == (2.5, 4096)
    policy = UriPolicy.from_settings(s)
    assert policy.timeout == 2.5 and policy.local_roots[0] == (tmp_path / "a").resolve()
    # and the defaults are closed: no local paths, no extra hosts, 30 s, 1 MiB
    monkeypatch.delenv("INDEXFLOW_API_LOCAL_ROOTS")
    monkeypatch.delenv("INDEXFLOW_API_ALLOW_HOSTS")
    monkeypatch.delenv("INDEXFLOW_URI_TIMEOUT_SECONDS")
    monkeypatch.delenv("INDEXFLOW_API_MAX_JSON_BYTES")
    d = Settings()
    assert (d.api_allow_local_paths, d.api_local_roots, d.api_allow_hosts) == (False, [], [])
    assert (d.uri_timeout_seconds, d.api_max_json_bytes) == (30.0, 1_048_576)
