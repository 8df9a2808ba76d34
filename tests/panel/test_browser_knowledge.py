"""The knowledge and test call pages in a real headless Chromium: sign in, upload a document, watch it indexed,
find it with a test question, run a test call and see its score; screenshots go beside test_browser's."""

from __future__ import annotations

import dataclasses

import pytest
from panel.test_browser import SHOTS, RunningPanel, browser  # noqa: F401 (browser is a fixture)

WAIT_S = 600  # a busy box is slow, never wrong: wait for what the page shows
DOC = ("# Bicycle repairs\n\n## Puncture service\n\nA puncture is mended while you wait for 12 euros; "
       "bring the wheel to the workshop counter.\n")


@pytest.fixture
def settings(settings, tmp_path):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "opening-hours.md").write_text("# Opening hours\n\nWe are open Monday to Friday from 9 AM to 6 PM.\n")
    return dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, knowledge_dir=folder))


def test_upload_a_document_find_it_by_a_question_and_run_a_test_call(settings, records, panel, browser,  # noqa: F811
                                                                     tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    upload = tmp_path / "Bike repairs.md"
    upload.write_text(DOC)
    SHOTS.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, WAIT_S)
    with RunningPanel(settings) as running:
        base = f"http://127.0.0.1:{running.port}"
        browser.get(base + "/knowledge")
        browser.find_element(By.NAME, "name").send_keys("alice")
        browser.find_element(By.NAME, "password").send_keys(panel.PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        wait.until(seen.url_to_be(base + "/knowledge"))

        browser.find_element(By.CSS_SELECTOR, 'form[action="/knowledge/upload"] input[type="file"]').send_keys(
            str(upload))
        browser.find_element(By.CSS_SELECTOR, 'form[action="/knowledge/upload"] button').click()
        wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "table"), "Bike repairs.md"))
        wait.until(seen.text_to_be_present_in_element((By.ID, "reindex-text"), "Indexed:"))
        assert browser.find_element(By.ID, "reindex-bar").get_attribute("value") == "2"

        question = browser.find_element(By.NAME, "question")
        question.send_keys("How much is it to fix a puncture?")
        browser.find_element(By.CSS_SELECTOR, "form.ask button").click()
        wait.until(seen.presence_of_element_located((By.ID, "answer")))
        passages = browser.find_element(By.ID, "answer").text
        assert "A puncture is mended while you wait" in passages and "Bicycle repairs" in passages
        assert browser.find_element(By.CSS_SELECTOR, "tr.passage td.score").text
        assert browser.find_element(By.ID, "said").text
        browser.save_screenshot(str(SHOTS / "knowledge-try-a-question.png"))

        browser.get(base + "/testcalls")
        browser.find_element(By.NAME, "lines").send_keys("How much is a puncture repair?\nNo, that's all. Goodbye!")
        browser.find_element(By.CSS_SELECTOR, "form.testcall button").click()
        wait.until(seen.presence_of_element_located((By.ID, "score")))
        score = browser.find_element(By.ID, "score").text
        assert "checks passed" in score, score
        assert "How much is a puncture repair?" in browser.find_element(By.TAG_NAME, "main").text
        browser.save_screenshot(str(SHOTS / "test-call-scored.png"))
        browser.get(base + "/testcalls")
        browser.save_screenshot(str(SHOTS / "test-calls.png"))
    print(f"\nscreenshots in {SHOTS}: knowledge-try-a-question, test-call-scored, test-calls")
