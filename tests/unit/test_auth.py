"""Root URL rules and token sources: refused before anything is sent, never leaked."""

from __future__ import annotations

import base64
import json
import time

import pytest

from iqm_async._auth import ClientAuthenticationError, Secret, TokenProvider, resolve_quantum_computer, resolve_url
from iqm_async.errors import ClientConfigurationError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://resonance.iqm.tech", "https://resonance.iqm.tech"),
        ("https://resonance.iqm.tech/", "https://resonance.iqm.tech"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("http://127.0.0.5:80", "http://127.0.0.5:80"),
    ],
)
def test_good_urls(url, expected) -> None:
    assert resolve_url(url, env={}) == expected


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://example.com", "loopback"),
        ("http://10.0.0.1:80", "loopback"),
        ("ftp://127.0.0.1", "https://"),
        ("https://resonance.iqm.tech/garnet", "no path"),
        ("https://cocos.resonance.iqm.tech", "Cocos"),
        ("https://réseau.example", "ASCII"),
        ("https://host:notaport", "not a valid URL"),
        ("https://user:pw@host", "credentials"),
        ("https://host?x=1", "query"),
        ("https:///nohost", "no host"),
        ("", "No IQM server URL"),
    ],
)
def test_bad_urls_are_configuration_errors(url, match) -> None:
    with pytest.raises(ClientConfigurationError, match=match):
        resolve_url(url, env={})


def test_url_from_env() -> None:
    assert resolve_url(None, env={"IQM_SERVER_URL": "https://x.example"}) == "https://x.example"
    with pytest.raises(ClientConfigurationError):
        resolve_url(None, env={})


def test_quantum_computer_from_env() -> None:
    assert resolve_quantum_computer(None, env={"IQM_QUANTUM_COMPUTER": "garnet"}) == "garnet"
    assert resolve_quantum_computer("sim", env={"IQM_QUANTUM_COMPUTER": "garnet"}) == "sim"
    assert resolve_quantum_computer(None, env={}) is None


def jwt(exp: float) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'exp': exp})}.sig"


def test_static_token_and_secret_hides_itself() -> None:
    p = TokenProvider("s3cret-token", env={})
    secret = p.get()
    assert secret is not None and secret.reveal() == "s3cret-token"
    assert "s3cret" not in repr(secret) + str(secret) + repr(p)


def test_env_token() -> None:
    assert TokenProvider(env={"IQM_TOKEN": "abc"}).get() == Secret("abc")


def test_no_token_source_sends_nothing() -> None:
    assert TokenProvider(env={}).get() is None


@pytest.mark.parametrize(
    ("kwargs", "env"),
    [
        ({"token": "a", "tokens_file": "f"}, {}),
        ({"token": "a"}, {"IQM_TOKEN": "b"}),
        ({}, {"IQM_TOKEN": "a", "IQM_TOKENS_FILE": "f"}),
        ({"tokens_file": "f"}, {"IQM_TOKEN": "b"}),
    ],
)
def test_two_sources_are_refused(kwargs, env) -> None:
    with pytest.raises(ClientConfigurationError, match="exactly one token source"):
        TokenProvider(**kwargs, env=env)


@pytest.mark.parametrize("bad", ["", "   ", "has space", "line\nbreak", "tab\there", "ünïcode"])
def test_malformed_tokens_are_refused_without_echoing_them(bad) -> None:
    with pytest.raises(ClientConfigurationError) as info:
        TokenProvider(bad, env={})
    if bad.strip():
        assert bad not in str(info.value)


def test_tokens_file_is_read_and_refreshed(tmp_path) -> None:
    now = [time.time()]
    f = tmp_path / "tokens.json"
    first, second = jwt(now[0] + 3600), jwt(now[0] + 7200)
    f.write_text(json.dumps({"access_token": first, "refresh_token": "ignored"}))
    p = TokenProvider(tokens_file=f, env={}, clock=lambda: now[0])
    assert p.get() == Secret(first)
    f.write_text(json.dumps({"access_token": second}))
    assert p.get() == Secret(first)  # still valid for long: cached
    now[0] += 3600 - 30  # within 60 s of expiry: re-read
    assert p.get() == Secret(second)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "Cannot read"),
        ("not json", "not valid JSON"),
        ('{"refresh_token": "x"}', "no 'access_token'"),
        ('{"access_token": "opaque"}', "not a JWT"),
        ("EXPIRED", "expired"),
    ],
)
def test_bad_tokens_files(tmp_path, content, match) -> None:
    f = tmp_path / "tokens.json"
    if content == "EXPIRED":
        content = json.dumps({"access_token": jwt(time.time() - 10)})
    if content is not None:
        f.write_text(content)
    p = TokenProvider(tokens_file=f, env={})
    with pytest.raises(ClientAuthenticationError, match=match):
        p.get()
