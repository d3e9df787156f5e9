"""Headless Chromium (Debian chromium + chromium-driver) through Selenium, for the web tests."""
import os
import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def chromium(shots_dir=None, width=1280, height=900):
    options = webdriver.ChromeOptions()
    binary = shutil.which("chromium")
    if binary:
        options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--ignore-certificate-errors", f"--window-size={width},{height}",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or
                                              "/usr/bin/chromedriver"), options=options)
    driver.shots_dir = Path(shots_dir) if shots_dir else None
    return driver


def wait(driver, what, predicate, timeout=20):
    """Waits until predicate(driver) is truthy; the failure names `what`."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: predicate(d), message=f"timed out waiting for {what}")


def text_of(driver, css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else None


def attr_of(driver, css, name):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].get_attribute(name) if found else None


def screenshot(driver, name):
    if driver.shots_dir is None:
        return None
    driver.shots_dir.mkdir(parents=True, exist_ok=True)
    path = driver.shots_dir / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver):
    try:
        return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    except WebDriverException:
        return []
