#!/usr/bin/env python3
"""Drives the web console in headless Chromium (Debian's chromium and chromium-driver, through Selenium) against a
running Sluice: a wrong key shows an error; a tenant signs in, uploads a good file and watches it reach
`succeeded`, uploads a file named like markup whose bad row holds markup and sees both as text (no script runs),
opens its rejects, filters records and downloads them, sees a chart drawn, and visits every page; the admin signs in
and sees the platform summary. Writes a screenshot of each page to ARTIFACTS. Exits non-zero, saying why, at the
first failure.

Environment: SLUICE_URL (http://127.0.0.1:PORT), SLUICE_TENANT, SLUICE_KEY, SLUICE_ADMIN_TOKEN, ARTIFACTS, WORK
(a scratch directory).
"""
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE = os.environ["SLUICE_URL"]
TENANT = os.environ["SLUICE_TENANT"]
KEY = os.environ["SLUICE_KEY"]
ADMIN = os.environ["SLUICE_ADMIN_TOKEN"]
ARTIFACTS = os.environ["ARTIFACTS"]
WORK = os.environ["WORK"]
MARKUP_NAME = "<img src=x onerror=alert(1)>.csv"
MARKUP_ROW = "<script>window.__owned = 1</script>"
# Generous: the machine may be busy with the rest of the test suite.
PATIENCE = 120


def fail(message):
    print(f"console check failed: {message}", file=sys.stderr)
    sys.exit(1)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    downloads = os.path.join(WORK, "downloads")
    os.makedirs(downloads, exist_ok=True)
    options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options), downloads


def shot(driver, name):
    driver.save_screenshot(os.path.join(ARTIFACTS, f"{name}.png"))


def wait(driver, what, condition):
    try:
        return WebDriverWait(driver, PATIENCE, poll_frequency=0.2).until(condition)
    except TimeoutException:
        shot(driver, "failure")
        fail(f"timed out waiting until {what}; the page says: {driver.find_element(By.TAG_NAME, 'body').text[:2000]!r}")


def no_script_ran(driver):
    try:
        text = driver.switch_to.alert.text
        fail(f"an alert opened: {text!r}")
    except NoAlertPresentException:
        pass
    if driver.execute_script("return window.__owned") is not None:
        fail("a tenant-controlled string ran as script")
    if driver.find_elements(By.CSS_SELECTOR, "#page img, #page script"):
        fail("tenant-controlled markup became elements")


def sign_in(driver, tenant, token):
    driver.get(BASE + "/ui/")
    wait(driver, "the sign-in form shows", expected_conditions.presence_of_element_located((By.ID, "signin")))
    driver.find_element(By.ID, "signin-tenant").send_keys(tenant)
    driver.find_element(By.ID, "signin-token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()


def file_row(driver, name, script):
    """Runs `script` on the files table's row for `name` (the list is redrawn as states change: look it up afresh)."""
    return driver.execute_script(
        "const row = [...document.querySelectorAll('#files tr[data-file]')].find((r) => r.getAttribute('data-file') === arguments[0]);"
        f"return row ? {script} : null;", name)


def file_state(driver, name):
    return file_row(driver, name, "row.querySelector('td.state').textContent")


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    driver, downloads = browser()
    try:
        # A wrong key: a readable error, the form still there.
        sign_in(driver, TENANT, "sluice_not-a-key")
        message = wait(driver, "the error shows", expected_conditions.visibility_of_element_located((By.ID, "message")))
        if "invalid_api_key" not in message.text or not driver.find_elements(By.ID, "signin"):
            fail(f"a wrong key should show its error beside the form, got {message.text!r}")
        shot(driver, "01-wrong-key")

        # Files: upload a good file and watch it reach succeeded.
        sign_in(driver, TENANT, KEY)
        wait(driver, "the files page shows", expected_conditions.presence_of_element_located((By.ID, "file-input")))
        good = os.path.join(WORK, "good.csv")
        with open(good, "w") as handle:
            handle.write("sensor,at,value,note\n" + "".join(f"s{index},{1700000000000 + index},{index}.5,ok\n" for index in range(20)))
        driver.find_element(By.ID, "file-input").send_keys(good)
        wait(driver, "good.csv reaches succeeded", lambda d: file_state(d, "good.csv") == "succeeded")
        shot(driver, "02-files")

        # A file named like markup, with a row of markup that is rejected: both shown as text.
        marked = os.path.join(WORK, MARKUP_NAME)
        with open(marked, "w") as handle:
            handle.write(f"sensor,at,value,note\nm1,1700000000100,1.5,fine\nm2,1700000000101,{MARKUP_ROW},bad\n")
        driver.find_element(By.ID, "file-input").send_keys(marked)
        wait(driver, "the markup-named file is ingested with its reject", lambda d: file_state(d, MARKUP_NAME) == "partial")
        no_script_ran(driver)
        shown = file_row(driver, MARKUP_NAME, "row.cells[0].textContent")
        if shown != MARKUP_NAME:
            fail(f"the file's name should show as text, the row says {shown!r}")
        file_row(driver, MARKUP_NAME, "(row.click(), true)")
        wait(driver, "its rejects show", lambda d: d.find_elements(By.CSS_SELECTOR, "#rejects tr[data-reject]"))
        rejects = driver.find_element(By.ID, "rejects").text
        if MARKUP_ROW not in rejects:
            fail(f"the rejected row's markup should show as text, the rejects say {rejects!r}")
        no_script_ran(driver)
        shot(driver, "03-rejects")

        # Records: filter, page, download.
        driver.get(BASE + "/ui/#records")
        wait(driver, "the records page shows", lambda d: d.find_elements(By.CSS_SELECTOR, "#records tr[data-record]"))
        Select(driver.find_element(By.ID, "filter-field")).select_by_value("sensor")
        Select(driver.find_element(By.ID, "filter-comparison")).select_by_value("eq")
        driver.find_element(By.ID, "filter-value").send_keys("s7")
        driver.find_element(By.CSS_SELECTOR, "#filter-form button[type=submit]").click()
        wait(driver, "the filter leaves one record", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#records tr[data-record]")) == 1
             and "s7" in d.find_element(By.ID, "records").text)
        shot(driver, "04-records")
        driver.find_element(By.ID, "download-csv").click()
        saved = os.path.join(downloads, f"{TENANT}-records.csv")
        wait(driver, "the CSV download is saved", lambda d: os.path.exists(saved) and os.path.getsize(saved) > 0)
        with open(saved) as handle:
            lines = handle.read().splitlines()
        if len(lines) != 2 or not lines[1].startswith("s7,"):
            fail(f"the download should hold the header and the filtered record, it holds {lines!r}")

        # Reports: a chart drawn from the series endpoint.
        driver.get(BASE + "/ui/#reports")
        wait(driver, "a chart is drawn", lambda d: d.find_elements(By.CSS_SELECTOR, "#charts svg.chart polyline"))
        wait(driver, "the reports table shows", lambda d: MARKUP_NAME in d.find_element(By.ID, "reports").text)
        no_script_ran(driver)
        shot(driver, "05-reports")

        for page, ready in (("stream", "#stream-summary .stat"), ("alerts", "#firing p, #firing table")):
            driver.get(BASE + f"/ui/#{page}")
            wait(driver, f"the {page} page shows", lambda d, selector=ready: d.find_elements(By.CSS_SELECTOR, selector))
            shot(driver, f"06-{page}")

        # The admin: every tenant and the platform summary.
        driver.find_element(By.ID, "sign-out").click()
        sign_in(driver, "", ADMIN)
        wait(driver, "the admin's overview lists the tenant", lambda d: d.find_elements(By.ID, "summary") and TENANT in d.find_element(By.ID, "summary").text)
        if not driver.find_elements(By.ID, "tenant-chooser"):
            fail("the admin should be able to choose the tenant shown")
        shot(driver, "07-overview")
        no_script_ran(driver)
    finally:
        driver.quit()
    print("console check passed")


if __name__ == "__main__":
    main()
