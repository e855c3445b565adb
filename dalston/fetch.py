"""Fetching ``audio_url`` inputs safely: http(s) only, no private or loopback addresses.

The API checks the URL when the job is submitted (a clear 400 at once); the prepare worker
checks again when it downloads, since DNS can change in between. Private, loopback,
link-local and reserved addresses are refused unless ``DALSTON_ALLOW_PRIVATE_URLS`` is set
(e.g. for a MinIO on the same network).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

import requests


class UrlNotAllowed(ValueError):
    pass


def check_url(
    url: str,
    allow_private: bool,
    *,
    allow_hosts: tuple[str, ...] = (),
    name: str = "audio_url",
) -> None:
    """Raise :class:`UrlNotAllowed` with a reason if ``url`` may not be fetched.

    ``allow_hosts``: host names (as written in the URL) exempt from the address check, for
    a receiver an operator trusts on a private network (webhooks; tests on loopback).
    ``name``: the field the messages name.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlNotAllowed(f"{name} must be an http or https URL")
    if not parts.hostname:
        raise UrlNotAllowed(f"{name} has no host")
    if allow_private or parts.hostname.lower() in allow_hosts:
        return
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        )
    except socket.gaierror as exc:
        raise UrlNotAllowed(f"{name} host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global or ip.is_multicast:
            raise UrlNotAllowed(
                f"{name} resolves to a private or reserved address ({ip}); "
                "set DALSTON_ALLOW_PRIVATE_URLS=true to allow it"
            )


def download(url: str, dest: Path, *, max_bytes: int, timeout: float, allow_private: bool) -> int:
    """Download ``url`` to ``dest``; returns the size. Raises ValueError with a reason."""
    check_url(url, allow_private)
    size = 0
    try:
        with requests.get(url, stream=True, timeout=(10, timeout), allow_redirects=False) as resp:
            if resp.is_redirect:
                raise ValueError(
                    f"audio_url redirects to {resp.headers.get('Location')!r}; give the final URL"
                )
            if resp.status_code != 200:
                raise ValueError(f"audio_url answered HTTP {resp.status_code}")
            with open(dest, "wb") as out:
                for block in resp.iter_content(1 << 16):
                    size += len(block)
                    if size > max_bytes:
                        raise ValueError(
                            f"audio_url is larger than the {max_bytes // (1 << 20)} MB limit"
                        )
                    out.write(block)
    except requests.RequestException as exc:
        raise ValueError(f"could not download audio_url: {exc.__class__.__name__}: {exc}") from exc
    if size == 0:
        raise ValueError("audio_url returned an empty file")
    return size
