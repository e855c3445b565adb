"""POST a webhook to a URL a client gave, behind the same address guard as ``audio_url``.

A client-supplied URL is checked when it is registered (a clear 400 at once) and again at
every delivery, since DNS can change in between. Redirects are followed by hand, at most
:data:`MAX_REDIRECTS`, and each hop's address is checked before it is contacted, so a
public URL that redirects to ``169.254.169.254`` or ``10.x`` is refused rather than
followed. A 307/308 keeps the POST and its body and is followed; 301/302/303 are not
followed for a POST (they would turn it into a GET without the event): the attempt ends
with that status, a failure.

The check resolves the name, then ``requests`` resolves it again to connect; a name whose
answer flips between the two (DNS rebinding) is not caught. Closing that needs connecting
to the checked address itself; noted in the README.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

from dalston import fetch

MAX_REDIRECTS = 3


class Refused(ValueError):
    """The URL (or a redirect target) is not one Dalston may POST to."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    duration_ms: int
    url: str  # the URL that answered (after redirects)


def check(url: str, *, allow_private: bool, allow_hosts: tuple[str, ...], name: str) -> None:
    """Raise :class:`Refused` if ``url`` may not receive webhooks."""
    try:
        fetch.check_url(url, allow_private, allow_hosts=allow_hosts, name=name)
    except fetch.UrlNotAllowed as exc:
        raise Refused(str(exc)) from exc


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
    allow_hosts: tuple[str, ...],
    guarded: bool = True,
) -> Answer:
    """POST ``body`` to ``url``, following 307/308 redirects by hand, each hop checked.

    ``guarded=False`` skips the address check (the operator's own ``DALSTON_WEBHOOK_URL``).

    Raises:
        Refused: the URL or a redirect target has a private or reserved address.
        requests.RequestException: the receiver could not be reached.
    """
    started = time.monotonic()
    for _hop in range(MAX_REDIRECTS + 1):
        if guarded:
            check(
                url,
                allow_private=allow_private,
                allow_hosts=allow_hosts,
                name="webhook URL",
            )
        resp = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=(5, timeout),
            allow_redirects=False,
        )
        resp.close()
        location = resp.headers.get("Location")
        if resp.is_redirect and location:
            target = urljoin(url, location)
            if guarded:  # refused by name, whether or not it would be followed
                check(
                    target,
                    allow_private=allow_private,
                    allow_hosts=allow_hosts,
                    name="redirect",
                )
            if resp.status_code in (307, 308):
                url = target
                continue
        return Answer(resp.status_code, int((time.monotonic() - started) * 1000), url)
    raise Refused(f"the webhook URL redirected more than {MAX_REDIRECTS} times")
