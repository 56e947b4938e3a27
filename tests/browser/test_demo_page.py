"""The local demo page in headless Chromium (Debian's chromium + chromedriver, driven by selenium): submit lyrics
and a style, watch progress, and see the player with the finished song; a finished job's variations side by side with
their scores, waveforms, lyric lines, lyric checks, provenance badges and downloads; a region of a song repainted or
extended, a song remixed. The browser follows the API's 302 to the presigned S3 URL, exactly like the existing
frontend. A screenshot of a finished job is saved to ``$TEST_ARTIFACTS`` (default ``build/test-artifacts``)."""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import ActionChains
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.lyric_checker import LyricChecker
from inference_container.worker.main import build_worker
from inference_container.worker.settings import WorkerSettings
from shared.presets import LYRICS_RANK_SHARE
from shared.timeline import MAX_SECONDS, MIN_SECONDS
from tests.conftest import API_KEYS, Api, wait_for

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "build" / "test-artifacts")
LYRICS = "[00:02.00]Morning light\n[00:12.00]Over the hill\n[00:24.00]We keep on singing\n[00:36.00]Until the end"


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium; files the page saves land in ``browser.downloads``."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER or "/usr/bin/chromedriver"),
                              options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture
def running_worker(stack, tiny_pipeline, drained_queue):
    worker = build_worker(WorkerSettings(poll_wait_s=1, heartbeat_s=1, visibility_s=60, progress_interval_s=0.2),
                          pipeline=tiny_pipeline)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield worker
    worker.stop(grace_s=0)
    thread.join(timeout=60)


@pytest.fixture
def lyric_check(tiny_pipeline, tiny_bundle, monkeypatch):
    """The session's tiny pipeline with its bundle's lyric check (the TINY RANDOM Whisper) for this test only (the
    session's pipeline does not check: the check has its own tests)."""
    checker = LyricChecker.load(Bundle(tiny_bundle), tiny_pipeline.separator, "cpu")
    assert checker is not None, "the tiny bundle has no lyric check (separator and Whisper)"
    monkeypatch.setattr(tiny_pipeline, "checker", checker)


def test_submit_from_the_page_and_see_the_player(stack, running_worker, browser):
    browser.get(f"{stack.api_url}/ui/")
    browser.find_element(By.ID, "key").clear()
    browser.find_element(By.ID, "key").send_keys(API_KEYS[-2])
    Select(browser.find_element(By.ID, "preset")).select_by_visible_text("preview")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "submit").is_enabled())  # the schema is read
    length = browser.find_element(By.ID, "length")
    limits = [length.get_attribute(name) for name in ("value", "min", "max")]
    assert limits == [str(MIN_SECONDS), str(MIN_SECONDS), str(MAX_SECONDS)]
    browser.find_element(By.ID, "submit").click()
    wait = WebDriverWait(browser, 240)
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "processing"))
    wait.until(expected_conditions.visibility_of_element_located((By.ID, "player-0")))
    wait.until(lambda d: d.find_element(By.ID, "player-0").get_attribute("src"))
    source = browser.find_element(By.ID, "player-0").get_attribute("src")
    assert source.startswith("blob:")
    duration = browser.execute_script(
        "const p = document.getElementById('player-0');"
        "return new Promise(r => p.readyState >= 1 ? r(p.duration) : p.addEventListener('loadedmetadata', "
        "() => r(p.duration)));")
    assert abs(duration - 95.1) < 0.2, duration
    assert browser.find_element(By.ID, "status").text == "completed"


def test_the_page_shows_the_fields_errors(stack, browser):
    browser.get(f"{stack.api_url}/ui/")
    browser.find_element(By.ID, "key").clear()
    browser.find_element(By.ID, "key").send_keys(API_KEYS[-3])
    lyrics = browser.find_element(By.ID, "lyrics")
    lyrics.clear()
    lyrics.send_keys("[00:10.00]late line\n[00:02.00]early line")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "submit").is_enabled())
    browser.find_element(By.ID, "submit").click()
    error = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "error").text)
    assert "lyrics" in error and "out of order" in error
    assert lyrics.get_attribute("aria-invalid") == "true"  # the field the error names is marked
    assert browser.find_element(By.ID, "style").get_attribute("aria-invalid") is None


def test_a_user_signs_in_on_the_page_and_the_job_is_theirs_alone(stack, browser, api):
    """Sign-in through the local user pool (moto's Cognito): the page then sends the ID token, not the key."""
    browser.get(f"{stack.api_url}/ui/")
    browser.find_element(By.ID, "username").send_keys(f"page-user-{time.monotonic_ns()}@example.com")
    browser.find_element(By.ID, "password").send_keys("short")
    browser.find_element(By.ID, "sign-in").click()
    error = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "error").text)
    assert "sign-in refused" in error and "password" in error.lower()  # the pool's password policy, as in AWS

    browser.find_element(By.ID, "password").clear()
    browser.find_element(By.ID, "password").send_keys("Page-Password-2026")
    browser.find_element(By.ID, "sign-in").click()
    WebDriverWait(browser, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, "signed-in"),
                                                                                        "Signed in as page-user-"))
    Select(browser.find_element(By.ID, "preset")).select_by_visible_text("preview")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "submit").is_enabled())
    browser.find_element(By.ID, "submit").click()
    job_id = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "job-id").text)
    seen_by_the_page = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(`../api/v1/status/${arguments[0]}`, {headers: demo.credentials()}).then((r) => done(r.status));", job_id)
    assert seen_by_the_page == 200
    assert api.get(f"/api/v1/status/{job_id}").status_code == 404  # an API key's client does not see it


def open_page(browser, stack, key: str) -> None:
    """The page, with ``key`` as its API key and the preview preset, ready to submit."""
    browser.get(f"{stack.api_url}/ui/")
    browser.find_element(By.ID, "key").clear()
    browser.find_element(By.ID, "key").send_keys(key)
    Select(browser.find_element(By.ID, "preset")).select_by_visible_text("preview")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "submit").is_enabled())


def type_into(browser, element_id: str, text: str) -> None:
    element = browser.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(text)


def file_of(client: Api, path: str) -> bytes:
    """A job's file as the API serves it: its 302, then the presigned S3 URL."""
    redirect = client.get(path)
    assert redirect.status_code == 302, redirect.text
    return requests.get(redirect.headers["location"], timeout=30).content


def songs_of(status: dict) -> list[dict]:
    return [o for o in status["outputs"] if o.get("kind", "song") == "song" and o["format"] == "wav"]


def patiently(browser, timeout: float) -> WebDriverWait:
    """A wait that looks again when the page replaced what it was reading (the songs shown are re-rendered)."""
    return WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,))


def wait_drawn(browser, index: int, timeout: float = 300) -> None:
    """Wait until variation ``index``'s song is loaded and its waveform drawn."""
    patiently(browser, timeout).until(
        lambda d: d.find_element(By.ID, f"wave-{index}").get_attribute("data-drawn") == "true"
        and d.execute_script(f"return document.getElementById('player-{index}').readyState") >= 1)


def ink(browser, canvas_id: str) -> dict:
    """How much of a canvas is drawn: its width, the pixel columns with any opaque pixel, the opaque pixels."""
    return browser.execute_script("""
        const canvas = document.getElementById(arguments[0]);
        const {width, height} = canvas, data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
        const columns = new Set(); let pixels = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) { pixels++; columns.add(((i - 3) / 4) % width); }
        return {width, height, columns: columns.size, pixels};""", canvas_id)


def record_submits(browser) -> None:
    """From now on, the page's generate requests' bodies are kept in ``window.submitted``."""
    browser.execute_script("""
        window.submitted = [];
        const original = window.fetch;
        window.fetch = (url, options = {}) => {
          if (String(url).endsWith('/api/v1/generate')) window.submitted.push(JSON.parse(options.body));
          return original(url, options);
        };""")


def drag(browser, canvas_id: str, start: float, end: float) -> None:
    """Drag across a canvas from ``start`` to ``end`` (fractions of its width)."""
    canvas = browser.find_element(By.ID, canvas_id)
    width = canvas.rect["width"]
    actions = ActionChains(browser).move_to_element_with_offset(canvas, int((start - 0.5) * width), 0).click_and_hold()
    distance = (end - start) * width
    for step in range(1, 6):  # in steps, as a hand moves
        actions.move_by_offset(round(step * distance / 5) - round((step - 1) * distance / 5), 0)
    actions.release().perform()


def follows_new_job(browser, old: str, label: str) -> str:
    """The id of the job the page follows once it is not ``old``; its label starts with ``label``."""
    job_id = WebDriverWait(browser, 30).until(
        lambda d: (text := d.find_element(By.ID, "job-id").text) != old and text)
    assert browser.find_element(By.ID, "job-label").text.startswith(label)
    return job_id


def open_finished_job(stack, browser, key: str) -> tuple[Api, str]:
    """A preview job submitted through the API and followed to ``completed``, then opened on the page from the jobs
    list, its song drawn; returns the API client and the job's id."""
    client = Api(stack.api_url, key)
    source = client.submit(lyrics=LYRICS, preset="preview")["job_id"]
    wait_for(lambda: client.status(source)["status"] == "completed", timeout=300, interval=1)
    browser.set_window_size(1400, 1100)
    open_page(browser, stack, key)
    browser.find_element(By.ID, "jobs-refresh").click()

    def open_source(d) -> bool:
        row = next((row for row in d.find_elements(By.CSS_SELECTOR, "#jobs-list tr") if source[:8] in row.text), None)
        if row is not None:
            row.find_element(By.TAG_NAME, "button").click()
        return row is not None

    patiently(browser, 30).until(open_source)
    wait_drawn(browser, 0)
    return client, source


def percent(fraction: float) -> str:
    """0.925 -> "93%", rounded as the page rounds (half up)."""
    return f"{math.floor(fraction * 100 + 0.5)}%"


def test_a_finished_job_shows_its_ranked_variations_waveforms_lyrics_and_files(stack, lyric_check, running_worker,
                                                                               browser):
    """best-of 2 with stems from the form: both variations side by side in the API's order with their scores, each
    waveform drawn across its canvas, the lyric lines (lyrics.json) placed at their times and highlighted at the
    playhead, each variation's lyric check (its share of the lyrics heard sung, its lines scored, the flagged ones
    marked) and its provenance badge, a link for every file, the lyrics saved from theirs; a screenshot of it all goes
    to the artifacts."""
    key = API_KEYS[-5]
    client = Api(stack.api_url, key)
    browser.set_window_size(1400, 1300)
    open_page(browser, stack, key)
    type_into(browser, "lyrics", LYRICS)
    type_into(browser, "variations", "2")
    browser.find_element(By.ID, "best-of").click()
    browser.find_element(By.ID, "stems").click()
    browser.find_element(By.ID, "submit").click()
    job_id = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "job-id").text)
    WebDriverWait(browser, 300).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "completed"))
    status = client.status(job_id)
    songs = songs_of(status)
    for song in songs:
        wait_drawn(browser, song["index"])
    assert browser.find_element(By.ID, "progress").get_attribute("aria-valuenow") == "100"

    # the variations, side by side, ranked as the API lists them (best first: by their style scores and how well they
    # sang their lyrics), each with its score
    scores = [song.get("score") for song in songs]
    assert len(songs) == 2 and all(isinstance(score, float) for score in scores), status["outputs"]
    ranks = [(1 - LYRICS_RANK_SHARE) * song["score"] + LYRICS_RANK_SHARE * song["lyrics_accuracy"] for song in songs]
    assert ranks == sorted(ranks, reverse=True)
    cards = browser.find_elements(By.CSS_SELECTOR, "#songs .song")
    assert [card.get_attribute("id") for card in cards] == [f"song-{song['index']}" for song in songs]
    assert [card.find_element(By.CSS_SELECTOR, ".rank").text for card in cards] == ["#1", "#2"]
    assert [card.find_element(By.CSS_SELECTOR, ".score").text for card in cards] == [f"score {s:.3f}" for s in scores]
    assert cards[0].rect["y"] == cards[1].rect["y"] and cards[0].rect["x"] < cards[1].rect["x"]

    # each waveform is drawn across its whole canvas
    for song in songs:
        drawn = ink(browser, f"wave-{song['index']}")
        assert drawn["columns"] > 0.95 * drawn["width"] and drawn["pixels"] > 0.1 * drawn["width"] * drawn["height"]

    # the lyric lines as the worker placed them, under the waveform at their times
    lyrics_json = json.loads(file_of(client, f"/api/v1/download/{job_id}?kind=lyrics&format=json"))
    lines = lyrics_json["lines"]
    assert lines, "the job's lyrics.json has no lines"
    first = songs[0]["index"]
    strip = browser.find_elements(By.CSS_SELECTOR, f"#lyrics-{first} .lyric-line")
    assert [line.get_attribute("textContent") for line in strip] == [line["text"] for line in lines]
    duration = browser.execute_script(f"return document.getElementById('player-{first}').duration")
    lefts = browser.execute_script(
        f"return [...document.querySelectorAll('#lyrics-{first} .lyric-line')].map(e => parseFloat(e.style.left))")
    assert lefts == pytest.approx([100 * line["start_s"] / duration for line in lines], abs=0.01)
    # the line at the playhead is highlighted, and shown in full
    sung = len(lines) - 1
    browser.execute_script(f"document.getElementById('player-{first}').currentTime = arguments[0]",
                           (lines[sung]["start_s"] + lines[sung]["end_s"]) / 2)
    WebDriverWait(browser, 10).until(lambda d: "current" in strip[sung].get_attribute("class"))
    assert [("current" in line.get_attribute("class")) for line in strip] == [i == sung for i in range(len(lines))]
    assert browser.find_element(By.ID, f"now-{first}").text == lines[sung]["text"]

    # each variation's lyric check (lyrics.json's "checks", one per variation) under its lyric lines: the share of the
    # lyrics heard sung, a row per sung line with its score, flagged lines marked with what was heard; and the badge of
    # a song signed by this deployment
    checks = {check["index"]: check for check in lyrics_json.get("checks") or []}
    assert set(checks) == {song["index"] for song in songs}, lyrics_json.get("checks")
    for song in songs:
        i, check = song["index"], checks[song["index"]]
        assert song["lyrics_accuracy"] == pytest.approx(check["lyrics_accuracy"], abs=1e-3), (song, check)
        assert browser.find_element(By.CSS_SELECTOR, f"#check-{i} .accuracy").text == \
            f"Lyrics sung: {percent(song['lyrics_accuracy'])}"
        if "TINY RANDOM" in (check.get("transcriber") or ""):  # the test model's scores mean nothing: the page says so
            assert check["transcriber"] in browser.find_element(By.CSS_SELECTOR, f"#check-{i} .transcriber").text
        rows = browser.find_elements(By.CSS_SELECTOR, f"#check-{i} .check-line")
        assert len(check["lines"]) == len(lines) and len(rows) == len(check["lines"])
        for row, line in zip(rows, check["lines"], strict=True):
            text, title = row.get_attribute("textContent"), row.get_attribute("title")
            assert text.startswith(percent(line["score"])) and line["expected"] in text, (text, line)
            assert ("flagged" in row.get_attribute("class").split()) == line["flagged"], (text, line)
            assert f"heard: {line['heard'] or '(nothing)'}" in title and f"expected: {line['expected']}" in title
        badges = browser.find_elements(By.ID, f"provenance-{i}")
        assert len(badges) == (1 if song.get("content_credentials") else 0), song
        if badges:
            assert badges[0].text == "Content Credentials ✓" and "verify-provenance" in badges[0].get_attribute("title")
    assert all(song.get("content_credentials") is True for song in songs), songs  # this stack's worker signs

    # every file has a link (songs, stems, lyrics); the lyrics' links save what the API serves
    links = browser.find_elements(By.CSS_SELECTOR, "a.download")
    assert {(a.get_attribute("data-kind"), a.get_attribute("data-format"), a.get_attribute("data-index"))
            for a in links} == {(o.get("kind", "song"), o["format"], str(o["index"])) for o in status["outputs"]
                                if o.get("kind") != "peaks"}
    for fmt in ("lrc", "json"):
        browser.find_element(By.CSS_SELECTOR, f"#job-files a[data-kind=lyrics][data-format={fmt}]").click()
        saved = browser.downloads / f"{job_id}.lyrics.{fmt}"
        wait_for(saved.exists, timeout=30)
        assert saved.read_bytes() == file_of(client, f"/api/v1/download/{job_id}?kind=lyrics&format={fmt}")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "demo-page-finished-job.png"
    shot.unlink(missing_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

    # stems were asked for: each variation links its vocals and accompaniment
    for song, card in zip(songs, cards, strict=True):
        stems = {a.get_attribute("data-kind") for a in card.find_elements(By.CSS_SELECTOR, "a.download")}
        assert {"vocals", "accompaniment"} <= stems, f"variation {song['index']} has no stems: {status['outputs']}"


def test_a_selected_region_is_repainted_or_extended_as_new_jobs_the_page_follows(stack, running_worker, browser):
    """A finished job opened from the jobs list; a region dragged on its waveform; Repaint submits edit.job_id, index
    and the region as the segment, and the page follows that job to its songs; Extend from the region of the repaint
    submits extend {job_id, index, from_s} with the form's longer length (then the page cancels it)."""
    client, source = open_finished_job(stack, browser, API_KEYS[-6])
    duration = browser.execute_script("return document.getElementById('player-0').duration")
    record_submits(browser)

    drag(browser, "wave-0", 0.2, 0.4)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "repaint-0").is_enabled())
    assert browser.find_element(By.ID, "region-0").text.startswith("Region ")
    browser.find_element(By.ID, "repaint-0").click()
    repaint = follows_new_job(browser, source, "Repaint of")
    body = browser.execute_script("return window.submitted.at(-1)")
    assert body["edit"]["job_id"] == source and body["edit"]["index"] == 0 and body["audio_length"] == MIN_SECONDS
    [(start, end)] = body["edit"]["segments"]
    pixel = duration / browser.find_element(By.ID, "wave-0").rect["width"]
    assert start == pytest.approx(0.2 * duration, abs=3 * pixel) and end == pytest.approx(0.4 * duration, abs=3 * pixel)
    assert client.status(repaint)["job_id"] == repaint  # the caller's job, as submitted
    WebDriverWait(browser, 300).until(lambda d: d.find_element(By.ID, "status").text == "completed")
    patiently(browser, 60).until(lambda d: repaint in (d.find_element(By.CSS_SELECTOR, "#song-0 a.download")
                                                       .get_attribute("href") or ""))
    wait_drawn(browser, 0)
    assert ink(browser, "wave-0")["columns"] > 0

    type_into(browser, "length", "120")
    drag(browser, "wave-0", 0.5, 0.6)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "extend-0").text.startswith("Extend from 0:"))
    browser.find_element(By.ID, "extend-0").click()
    extension = follows_new_job(browser, repaint, "Extension of")
    body = browser.execute_script("return window.submitted.at(-1)")
    assert body["audio_length"] == 120 and "edit" not in body
    assert body["extend"]["job_id"] == repaint and body["extend"]["index"] == 0
    assert body["extend"]["from_s"] == pytest.approx(0.5 * duration, abs=3 * pixel)
    browser.find_element(By.ID, "cancel").click()
    WebDriverWait(browser, 240).until(lambda d: d.find_element(By.ID, "status").text == "cancelled")
    assert client.status(extension)["status"] == "cancelled"


def test_a_reference_clip_is_uploaded_from_the_page_and_mixed_with_the_style(stack, browser, aws, settings, tmp_path):
    """The file input uploads the clip (POST /api/v1/uploads, then the PUT to S3); with a style text too, the mix
    slider appears and the request carries both and the weight; the API accepts it."""
    clip = tmp_path / "reference.wav"
    seconds = np.arange(12 * 44100) / 44100
    soundfile.write(clip, np.stack([0.3 * np.sin(2 * np.pi * 220 * seconds)] * 2, axis=1), 44100, subtype="PCM_16")
    key = API_KEYS[-7]
    open_page(browser, stack, key)
    assert not browser.find_element(By.ID, "style-mix").is_displayed()
    browser.find_element(By.ID, "reference").send_keys(str(clip))
    WebDriverWait(browser, 30).until(lambda d: "uploaded" in d.find_element(By.ID, "reference-status").text)
    assert browser.find_element(By.ID, "style-mix").is_displayed()
    browser.execute_script("const s = document.getElementById('style-weight'); s.value = '0.7';"
                           "s.dispatchEvent(new Event('input'));")
    assert browser.find_element(By.ID, "style-weight-text").text == "70% text, 30% clip"
    request = browser.execute_script("return demo.formRequest()")
    assert request["style_prompt"] == "pop, upbeat, energetic" and request["style_weight"] == 0.7
    uploaded = aws("s3").get_object(Bucket=settings.bucket_name, Key=request["reference_audio_key"])
    assert uploaded["Body"].read() == clip.read_bytes()
    wait_for(lambda: stack.dispatcher.processed[request["reference_audio_key"]])  # the upload check kept it
    browser.find_element(By.ID, "submit").click()
    job_id = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "job-id").text)
    assert Api(stack.api_url, key).status(job_id)["status"] in ("queued", "processing")
    assert browser.find_element(By.ID, "error").text == ""


def test_a_finished_song_is_remixed_at_the_chosen_strength_and_the_page_follows_the_remix(stack, running_worker,
                                                                                          browser):
    """Remix on a song's card submits remix {job_id, index, strength} with the form's style and lyrics; the page
    follows that job to its song."""
    client, source = open_finished_job(stack, browser, API_KEYS[-8])
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "remix-0").is_enabled())
    record_submits(browser)
    type_into(browser, "remix-strength-0", "0.3")
    Select(browser.find_element(By.ID, "preset")).select_by_visible_text("preview")
    browser.find_element(By.ID, "remix-0").click()
    remix = follows_new_job(browser, source, "Remix of")
    body = browser.execute_script("return window.submitted.at(-1)")
    assert body["remix"] == {"job_id": source, "index": 0, "strength": 0.3} and "edit" not in body
    WebDriverWait(browser, 300).until(lambda d: d.find_element(By.ID, "status").text == "completed")
    patiently(browser, 60).until(lambda d: remix in (d.find_element(By.CSS_SELECTOR, "#song-0 a.download")
                                                     .get_attribute("href") or ""))
    assert client.status(remix)["status"] == "completed" and browser.find_element(By.ID, "error").text == ""
