"""The web console in a real browser (headless Chromium), against the test cluster.

Every request the page makes to an origin other than the Dalston server is blocked and
recorded, and the tests assert that there were none: the console must work offline, with
nothing from a CDN. Screenshots of the job list and the job page are saved under
``bench-results/console/`` (the path is printed).
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right

import pytest
import requests

from tests.bench import longaudio
from tests.bench.sample import OUT as SAMPLE
from tests.keyed_api import KeyedApi

pytestmark = pytest.mark.integration

JOB_URL = re.compile(r".*#/jobs/([0-9a-f-]{36})$")
STATE = """() => {
  const a = document.getElementById('player');
  const w = document.querySelector('.word.active');
  return [a.currentTime, w ? Number(w.dataset.i) : -1, a.paused];
}"""


class Page:
    """A browser page that may reach ``base`` only; what else it tried is in ``blocked``."""

    def __init__(self, browser, base: str, width: int = 1280, height: int = 900):
        self.base = base
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.requests: list = []
        self.context = browser.new_context(
            accept_downloads=True, viewport={"width": width, "height": height}
        )
        self.context.route("**/*", self._gate)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda request: self.requests.append(request))

    def _gate(self, route):
        url = route.request.url
        if url == self.base or url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self):
        self.context.close()


def wait_until(page, expression: str, timeout: float = 60.0) -> None:
    """Poll ``expression`` in the page (``wait_for_function`` evaluates a string, which the
    console's Content-Security-Policy forbids, as it should)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression} still false after {timeout} s")
        time.sleep(0.1)


def expected_word(starts: list[float], t: float) -> int:
    """The word the console should highlight at ``t``: the last one that has started."""
    return bisect_right(starts, t + 0.01) - 1


def wait_completed(page, timeout: float = 240.0) -> list[tuple[str, int | None]]:
    """Poll the job page until its status reads completed; the (status, progress) seen."""
    seen: list[tuple[str, int | None]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate("""() => { const s = document.getElementById('job-status');
                       const p = document.querySelector('.meta progress');
                       return [s ? s.textContent : null, p ? p.value : null]; }""")
        if state[0]:
            seen.append((state[0], state[1]))
        if state[0] in ("completed", "failed", "cancelled"):
            return seen
        time.sleep(0.25)
    raise TimeoutError(f"the job page still shows {seen[-1:]} after {timeout} s")


def test_upload_watch_play_follow_seek_download_delete(browser, cluster, screenshots_dir, tmp_path):
    api = KeyedApi(cluster.settings)
    view = Page(browser, api.base_url)
    page = view.page
    try:
        # The static page asks for the key before it shows anything.
        page.goto(api.base_url + "/console/")
        page.wait_for_selector("#api-key")
        assert page.locator("table.jobs").count() == 0
        page.fill("#api-key", "not-the-key")
        page.press("#api-key", "Enter")
        page.wait_for_selector("#key-form .error:has-text('That key was refused.')")
        page.fill("#api-key", api.key)
        page.press("#api-key", "Enter")  # the keyboard submits the form
        page.wait_for_selector("h1:has-text('Jobs')")
        assert page.evaluate("sessionStorage.getItem('dalston.apiKey')") == api.key

        # New job, reached with the keyboard; upload with a progress bar.
        page.focus("[data-nav=new]")
        page.keyboard.press("Enter")
        page.wait_for_selector("#new-job")
        page.wait_for_selector("#model option[value='tiny.en']", state="attached")
        assert page.locator("label[for=file]").count() == 1  # every control is labelled
        for control in ("model", "language", "speaker_detection", "num_speakers"):
            assert page.locator(f"label[for={control}]").count() == 1, control
        page.set_input_files("#file", str(SAMPLE))
        page.select_option("#model", "tiny.en")
        page.select_option("#speaker_detection", "diarize")
        page.fill("#num_speakers", "2")
        page.evaluate("""() => { window.uploadSeen = [];
                 const bar = document.getElementById('upload-progress');
                 new MutationObserver(() => window.uploadSeen.push(bar.value))
                   .observe(bar, {attributes: true}); }""")
        page.click("#new-job button[type=submit]")
        page.wait_for_url(JOB_URL, timeout=60000)
        job_id = JOB_URL.match(page.url).group(1)
        assert max(page.evaluate("window.uploadSeen")) == 100

        seen = wait_completed(page)
        assert seen[-1][0] == "completed", seen
        assert len({status for status, _ in seen}) >= 2, seen  # it was watched, not just read
        page.wait_for_selector(".word")
        wait_until(page, "document.getElementById('player').readyState >= 3")
        stages = page.eval_on_selector_all(".gantt-row", "rows => rows.map(r => r.dataset.stage)")
        assert stages[0] == "prepare" and "diarize" in stages and stages[-1] == "merge", stages
        assert page.locator(".legend li").count() == 2  # two voices, two colours
        assert page.locator("#speaker-timeline .band").count() >= 2

        # Playback: the highlighted word follows the audio.
        words = page.eval_on_selector_all(".word", "ws => ws.map(w => Number(w.dataset.start))")
        assert len(words) > 10 and words == sorted(words)
        page.evaluate("document.getElementById('player').play()")
        samples = []
        started = time.monotonic()
        while time.monotonic() - started < 5.0:
            samples.append(page.evaluate(STATE))
            page.wait_for_timeout(100)
        page.evaluate("document.getElementById('player').pause()")
        assert samples[-1][0] - samples[0][0] > 2.0, samples  # it really played
        for t, active, _paused in samples:
            # The page updates the highlight once per frame: allow one frame's lag.
            lo, hi = expected_word(words, t - 0.1), expected_word(words, t)
            assert lo <= active <= hi, (t, active, lo, hi, samples)
        highlighted = [a for _, a, _ in samples if a >= 0]
        assert highlighted == sorted(highlighted) and len(set(highlighted)) >= 4, samples

        # Click a word: playback seeks to it.
        k = len(words) - 4
        page.click(f".word[data-i='{k}']")
        t, active, _ = page.evaluate(STATE)
        assert words[k] - 0.02 <= t < words[k] + 0.4, (t, words[k])
        assert active in (k, k + 1), (active, k)
        page.evaluate("document.getElementById('player').pause()")
        page.wait_for_timeout(300)  # the toast of the status change fades
        page.screenshot(path=str(screenshots_dir / "job-detail.png"), full_page=True)
        # The keyboard seeks too: each segment's time is a button.
        buttons = page.locator(".seg .ts")
        buttons.nth(1).focus()
        page.keyboard.press("Enter")
        t, _, _ = page.evaluate(STATE)
        segment_start = float(
            page.locator(".seg").nth(1).locator(".word").first.get_attribute("data-start")
        )
        assert abs(t - segment_start) < 0.5, (t, segment_start)
        page.evaluate("document.getElementById('player').pause()")

        # SRT export as a download, the same bytes the API serves.
        with page.expect_download() as download:
            page.click("[data-export=srt]")
        srt_path = tmp_path / download.value.suggested_filename
        download.value.save_as(srt_path)
        assert download.value.suggested_filename == f"{job_id}.srt"
        served = requests.get(
            f"{api.base_url}/v1/audio/transcriptions/{job_id}/export/srt",
            headers={"Authorization": f"Bearer {api.key}"},
            timeout=30,
        ).text
        assert srt_path.read_text() == served and " --> " in served

        # The job list shows it completed, with its model and real-time factor.
        page.click("[data-nav=jobs]")
        row = page.locator(f"tr[data-job='{job_id}']")
        row.locator(".badge:has-text('completed')").wait_for()
        assert row.locator("td[data-label=Model]").text_content() == "tiny.en"
        assert re.fullmatch(r"\d+\.\d\d", row.locator("td[data-label=RTF]").text_content())
        assert row.locator("progress").get_attribute("value") == "100"
        page.screenshot(path=str(screenshots_dir / "job-list.png"), full_page=True)

        # Queues: depth and workers per queue, and the way to Flower.
        page.click("[data-nav=queues]")
        # (the page polls; a worker busy with a task answers the broadcast once it is done)
        page.wait_for_selector("tr[data-queue=transcribe] li:has-text('transcribe@test')")
        assert page.locator("#system-status").text_content() == "ok"
        assert page.locator("#flower-link").get_attribute("href").endswith(":5555/")
        page.screenshot(path=str(screenshots_dir / "queues.png"), full_page=True)

        # Narrow screen: the same pages, stacked.
        page.set_viewport_size({"width": 390, "height": 844})
        page.click("[data-nav=jobs]")
        row.locator(".badge:has-text('completed')").wait_for()
        page.screenshot(path=str(screenshots_dir / "job-list-narrow.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        page.click(f"tr[data-job='{job_id}'] a")
        page.wait_for_selector(".word")
        wait_until(page, "document.getElementById('player').readyState >= 3")
        page.screenshot(path=str(screenshots_dir / "job-detail-narrow.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1

        # Delete, after the confirmation.
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#delete-job")
        page.wait_for_url(re.compile(r".*#/jobs$"))
        gone = requests.get(
            f"{api.base_url}/v1/audio/transcriptions/{job_id}",
            headers={"Authorization": f"Bearer {api.key}"},
            timeout=30,
        )
        assert gone.status_code == 404

        assert view.blocked == [], view.blocked
        assert view.errors == [], view.errors
        print(f"\nconsole screenshots: {screenshots_dir}")
    finally:
        view.close()
        api.close()


def test_without_a_key_the_player_streams_ranges_and_nothing_leaves_the_server(
    browser, cluster, tmp_path
):
    """No key: the page asks for none, and the <audio> element reads the audio endpoint
    itself, in byte ranges; every page loads from this server alone; a running job can be
    cancelled from its page."""
    job_id = cluster.submit(SAMPLE, model="tiny.en")
    cluster.wait(job_id)
    view = Page(browser, cluster.base_url)
    page = view.page
    try:
        for route in ("#/jobs", "#/new", "#/queues"):
            page.goto(f"{cluster.base_url}/console/{route}")
            page.wait_for_selector("main h1")
            assert page.locator("#api-key").count() == 0
        page.goto(f"{cluster.base_url}/console/#/jobs/{job_id}")
        page.wait_for_selector(".word")
        wait_until(page, "document.getElementById('player').readyState >= 2")
        assert page.evaluate("document.getElementById('player').src").endswith(
            f"/v1/audio/transcriptions/{job_id}/audio"
        )
        page.evaluate("document.getElementById('player').play()")
        wait_until(page, "document.getElementById('player').currentTime > 1")
        page.evaluate("document.getElementById('player').pause()")
        audio = [r for r in view.requests if r.url.endswith(f"/{job_id}/audio")]
        assert audio and all("range" in r.headers for r in audio), [r.headers for r in audio]

        long, _text = longaudio.write(tmp_path / "long.wav", 60.0)
        running = cluster.submit(long, model="tiny.en")
        page.goto(f"{cluster.base_url}/console/#/jobs/{running}")
        page.click("#cancel-job")
        page.wait_for_selector("#job-status:has-text('cancelled')")
        assert page.locator("#delete-job").count() == 1  # a cancelled job can go
        assert cluster.job(running)["status"] == "cancelled"
        assert view.blocked == [], view.blocked
        assert view.errors == [], view.errors
    finally:
        view.close()
