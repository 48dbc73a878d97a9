"""Root URL checks and bearer-token sources (see docs/protocol.md). No I/O but reading a file.

Tokens are held in :class:`Secret` so that no ``repr``/``str``/log line of ours can show them.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ClientConfigurationError

__all__ = ["ClientAuthenticationError", "Secret", "TokenProvider", "resolve_quantum_computer", "resolve_url"]

TOKEN_REFRESH_MARGIN = 60.0
"""Seconds before a file token's ``exp`` at which the file is read again."""

TOKEN_REREAD_DELAY = 2.0
"""Seconds before a tokens file that could not be read is tried again while the held token is still valid."""

logger = logging.getLogger("iqm_async.auth")

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class ClientAuthenticationError(ClientConfigurationError):
    """The token source cannot give a usable token (unreadable file, bad JSON, expired JWT)."""


class Secret:
    """A string that never shows itself in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """Return the secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("A Secret (a bearer token) is never pickled; pass the token again in the other process.")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def resolve_url(url: str | None, env: Mapping[str, str] | None = None) -> str:
    """Return the validated root URL (no trailing slash) from the argument or ``IQM_SERVER_URL``.

    Raises:
        ClientConfigurationError: if no URL is given, or it has a path, a bad scheme, non-ASCII
            characters, or plain ``http`` to a host that is not loopback.
    """
    env = os.environ if env is None else env
    raw = url if url is not None else env.get("IQM_SERVER_URL")
    if not raw or not raw.strip():
        raise ClientConfigurationError(
            "No IQM server URL: pass url=... or set IQM_SERVER_URL (for example https://resonance.iqm.tech)."
        )
    raw = raw.strip()
    if not raw.isascii():
        raise ClientConfigurationError(f"The server URL must be ASCII, got {raw!r}.")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ClientConfigurationError(f"The server URL {raw!r} is not a valid URL: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise ClientConfigurationError(
            f"The server URL must start with https:// (or http:// on loopback), got {raw!r}."
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise ClientConfigurationError(f"The server URL {raw!r} has no host.")
    if parts.username or parts.password:
        raise ClientConfigurationError("The server URL must not contain credentials; pass token=... instead.")
    if parts.query or parts.fragment:
        raise ClientConfigurationError(f"The server URL must not have a query or fragment, got {raw!r}.")
    path = parts.path.rstrip("/")
    if host.startswith("cocos."):
        raise ClientConfigurationError(_cocos_hint(raw, host, path))
    if path:
        raise ClientConfigurationError(
            f"The server URL must be a root URL with no path, got {raw!r}. The quantum computer is chosen with "
            f"quantum_computer=... (or IQM_QUANTUM_COMPUTER), not in the URL; try {parts.scheme}://{parts.netloc}."
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise ClientConfigurationError(
            f"Plain http is allowed only on loopback (localhost, 127.0.0.1, [::1]); use https:// for {host}."
        )
    del port  # parsed above only so that a bad port is refused
    return f"{parts.scheme}://{parts.netloc}"


def _cocos_hint(raw: str, host: str, path: str) -> str:
    """Say, for a legacy Cocos URL, the root URL and quantum computer to use instead, in one step.

    ``https://cocos.resonance.meetiqm.com/garnet`` was IQM Resonance's old per-machine URL; the IQM Server
    API serves every machine from ``https://resonance.iqm.tech`` and names the machine separately. For
    another ``cocos.`` host (an on-premises installation), the host without ``cocos.`` is suggested.
    """
    root = "https://resonance.iqm.tech" if host.endswith("meetiqm.com") else f"https://{host.removeprefix('cocos.')}"
    name = path.rsplit("/", 1)[-1] if path else ""
    qc = f', quantum_computer="{name}"' if name else ""
    return (
        f"{raw!r} is a legacy Cocos URL; this client speaks the IQM Server API. Use "
        f'IQMProvider("{root}"{qc}) (or AsyncIQMClient("{root}"{qc}); or IQM_SERVER_URL={root}'
        + (f" and IQM_QUANTUM_COMPUTER={name}" if name else "")
        + ")."
    )


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        # Shorthand IPv4 forms the OS accepts and connects to as written ("127.1", "127.0.1").
        return ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(host))).is_loopback
    except OSError:
        return False


def resolve_quantum_computer(name: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """Return the quantum computer alias from the argument or ``IQM_QUANTUM_COMPUTER`` (None: choose later)."""
    env = os.environ if env is None else env
    value = name if name is not None else env.get("IQM_QUANTUM_COMPUTER")
    return value.strip() or None if value is not None else None


def _jwt_expiry(token: str) -> float | None:
    """Return a JWT's ``exp`` claim, or None when the token is not a JWT with one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


class TokenProvider:
    """Gives the bearer token to send, from exactly one source: ``token``, ``tokens_file`` or the env.

    Raises:
        ClientConfigurationError: if two sources are given, or arguments are mixed with env vars,
            or a given token is empty or has whitespace or control characters in it.
    """

    def __init__(
        self,
        token: str | Secret | None = None,
        tokens_file: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        # Tokens are wrapped at once and the plain names deleted, so a traceback rendered with its
        # frames' locals (pytest -l, rich) never shows one.
        given_token = token if isinstance(token, Secret) or token is None else Secret(token)
        del token
        env = os.environ if env is None else env
        env_token = Secret(env["IQM_TOKEN"]) if env.get("IQM_TOKEN") else None
        env_file = env.get("IQM_TOKENS_FILE")
        given = [n for n, v in (("token", given_token), ("tokens_file", tokens_file)) if v is not None]
        from_env = [n for n, v in (("IQM_TOKEN", env_token), ("IQM_TOKENS_FILE", env_file)) if v]
        if len(given) > 1 or len(from_env) > 1 or (given and from_env):
            raise ClientConfigurationError(
                f"Give exactly one token source; got {' and '.join(given + from_env)}. Unset the env var(s) or "
                "drop the argument."
            )
        self._clock = clock
        self._static: Secret | None = None
        self._file: Path | None = None
        self._cached: Secret | None = None
        self._cached_exp: float | None = None
        self._retry_read_at = 0.0
        self.source = "none"
        """Where the token comes from, for error messages: ``token``, ``IQM_TOKEN``, ``tokens_file <path>``, …"""
        if given_token is not None or env_token is not None:
            self.source = "token" if given_token is not None else "IQM_TOKEN"
            self._static = _check_token(given_token or env_token, self.source)
        elif tokens_file is not None or env_file:
            self._file = Path(tokens_file if tokens_file is not None else str(env_file))
            self.source = f"tokens_file {self._file}" if tokens_file is not None else f"IQM_TOKENS_FILE {self._file}"

    @property
    def configured(self) -> bool:
        """True when some token source was given."""
        return self._static is not None or self._file is not None

    def __repr__(self) -> str:
        # getattr: a traceback rendered with locals may show a provider whose constructor failed half-way.
        return f"TokenProvider(source={getattr(self, 'source', 'unbuilt')})"

    def get(self) -> Secret | None:
        """Return the token to send now, re-reading a tokens file when the cached token nearly expired.

        Raises:
            ClientAuthenticationError: if the tokens file cannot be read or holds no valid, unexpired token.
        """
        if self._static is not None:
            return self._static
        if self._file is None:
            return None
        now = self._clock()
        if self._cached is not None and (self._cached_exp is None or self._cached_exp - now > TOKEN_REFRESH_MARGIN):
            return self._cached
        held_still_valid = self._cached is not None and self._cached_exp is not None and self._cached_exp > now + 1.0
        if held_still_valid and now < self._retry_read_at:
            return self._cached
        try:
            self._cached, self._cached_exp = self._read_file(now)
        except ClientAuthenticationError as exc:
            if not held_still_valid:
                raise
            # The file is being rewritten (torn JSON) or briefly unreadable: the token already held is
            # still valid, so requests keep using it and the file is read again a little later.
            self._retry_read_at = now + TOKEN_REREAD_DELAY
            logger.info("keeping the current token for now: %s", exc)
        assert self._cached is not None
        return self._cached

    def _read_file(self, now: float) -> tuple[Secret, float | None]:
        assert self._file is not None
        try:
            access, problem = _access_token_of(self._file.read_bytes())
        except OSError as exc:
            raise ClientAuthenticationError(f"Cannot read the tokens file {self._file}: {exc.strerror}.") from None
        if access is None:
            raise ClientAuthenticationError(f"The tokens file {self._file} {problem}.")
        access = _check_token(access, "access_token", error=ClientAuthenticationError)
        exp = _jwt_expiry(access.reveal())
        if exp is None:
            raise ClientAuthenticationError(
                f"The access_token in {self._file} is not a JWT with an 'exp' claim; refresh the tokens file."
            )
        if exp <= now:
            raise ClientAuthenticationError(
                f"The access_token in {self._file} expired {int(now - exp)} s ago; refresh the tokens file."
            )
        return access, exp


def _access_token_of(raw: bytes) -> tuple[Secret | None, str]:
    """Return a tokens file's ``access_token`` as a Secret, or None and what is wrong; keep no plain copy."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None, "is not valid JSON (it may be being rewritten)"
    access = data.get("access_token") if isinstance(data, dict) else None
    del data  # it holds the refresh token too
    if isinstance(access, str) and access.strip():
        return Secret(access), ""
    return None, "has no 'access_token' string"


def _check_token(
    secret: Secret | None, name: str, error: type[ClientConfigurationError] = ClientConfigurationError
) -> Secret:
    # The token is only ever looked at through the Secret, never bound to a plain local.
    if secret is None or not secret.reveal().strip():
        raise error(f"The {name} is empty; pass a token or remove the setting.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in secret.reveal()) or not secret.reveal().isascii():
        raise error(f"The {name} is malformed: it contains whitespace, control or non-ASCII characters.")
    return secret
