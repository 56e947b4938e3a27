"""The local demo page in headless Chromium (Debian's chromium + chromedriver, driven by selenium): submit lyrics
and a style, watch progress, and see the player with the finished song. The browser follows the API's 302 to the
presigned S3 URL, exactly like the existing frontend."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from inference_container.worker.main import build_worker
from inference_container.worker.settings import WorkerSettings
from shared.timeline import MAX_SECONDS, MIN_SECONDS
from tests.conftest import API_KEYS

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER or "/usr/bin/chromedriver"),
                              options=options)
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
    wait.until(expected_conditions.visibility_of_element_located((By.ID, "player")))
    source = browser.find_element(By.ID, "player").get_attribute("src")
    assert source.startswith("blob:")
    duration = browser.execute_script(
        "const p = document.getElementById('player');"
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
        "fetch(`../api/v1/status/${arguments[0]}`, {headers: credentials()}).then((r) => done(r.status));", job_id)
    assert seen_by_the_page == 200
    assert api.get(f"/api/v1/status/{job_id}").status_code == 404  # an API key's client does not see it
