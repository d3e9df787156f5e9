#!/usr/bin/env python3
"""The musicians' web mixer end to end, in a real headless Chromium against the real stack
(tests/browser/stack.py): mosquitto with the shipped listeners, jambox-web (lighttpd), the room
server and two managed jamboxd on dummy JACK servers. Screenshots of every screen go to
<build>/browser-shots/.

usage: web_test.py --build-dir BUILD
"""
import argparse
import json
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import attr_of, chromium, console_errors, screenshot, text_of, wait  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from stack import Stack, wait_for  # noqa: E402

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def sign_in(driver, url, user, password):
    driver.get(url)
    wait(driver, "the sign-in form", lambda d: d.find_elements(By.ID, "login-user"))
    for field, value in (("login-user", user), ("login-password", password)):
        el = driver.find_element(By.ID, field)
        el.clear()
        el.send_keys(value)
    driver.find_element(By.ID, "login-submit").click()


def set_control(driver, control, value):
    """Sets an input the way a user's drag or typing ends: value, input and change events."""
    el = driver.find_element(By.CSS_SELECTOR, f'[data-control="{control}"]')
    if el.get_attribute("type") == "checkbox":
        if el.is_selected() != bool(value):
            el.click()
        return el
    driver.execute_script(
        "const e = arguments[0]; e.value = arguments[1];"
        "e.dispatchEvent(new Event('input', {bubbles: true}));"
        "e.dispatchEvent(new Event('change', {bubbles: true}));", el, str(value))
    return el


def fate(driver, control):
    """(state, text) of the control's command fate element."""
    return driver.execute_script(
        "const c = document.querySelector(`[data-control=\"${arguments[0]}\"]`);"
        "if (!c) return null;"
        "let f = c.parentElement && c.parentElement.querySelector('[data-fate]');"
        "for (let p = c.parentElement; !f && p; p = p.parentElement) f = p.querySelector('[data-fate]');"
        "return f ? [f.getAttribute('data-state'), f.textContent] : null;", control)


def wait_fate(driver, control, states=("ok", "error"), timeout=15):
    return wait(driver, f"the fate of {control}",
                lambda d: (lambda f: f if f and f[0] in states else None)(fate(d, control)),
                timeout)


def open_mixer(driver, box):
    wait(driver, f"{box} in the box list",
         lambda d: d.find_elements(By.CSS_SELECTOR, f'#boxes [data-box="{box}"]'), 30)
    row = driver.find_element(By.CSS_SELECTOR, f'#boxes [data-box="{box}"]')
    buttons = row.find_elements(By.CSS_SELECTOR, "button, a")
    (buttons[0] if buttons else row).click()
    wait(driver, f"the mixer of {box}",
         lambda d: d.find_elements(By.CSS_SELECTOR, f'#mixer[data-box="{box}"]'), 15)


def box_log(stack, box):
    return stack.log(box)


# --- room chat ------------------------------------------------------------------------------

def chat_items(driver):
    """[(seq, from, text)] of the chat log, in page order."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#chat-log [data-seq]')].map((e) => ["
        "Number(e.getAttribute('data-seq')),"
        "(e.querySelector('.chat-from') || {}).textContent || '',"
        "(e.querySelector('.chat-text') || {}).textContent || '']);")


def chat_shows(driver, text):
    """The (seq, from, text) of the message with this text, or None."""
    return next((i for i in chat_items(driver) if i[2] == text), None)


def chat_type(driver, text):
    """Types a message and presses Enter, as a musician does."""
    wait(driver, "the chat field to take a message", lambda d: d.execute_script(
        "const i = document.getElementById('chat-input'); return i && !i.readOnly;"), 15)
    field = driver.find_element(By.ID, "chat-input")
    field.clear()
    field.send_keys(text + Keys.ENTER)


def chat_paste(driver, text):
    """Puts text into the field from a script (past its maxlength, as a paste by a script
    could) and presses the send button."""
    driver.execute_script(
        "const i = document.getElementById('chat-input'); i.value = arguments[0];"
        "i.dispatchEvent(new Event('input', {bubbles: true}));"
        "document.getElementById('chat-send').click();", text)


def chat_outcome(driver, timeout=15):
    """After sending: 'accepted' once the field was emptied by the room server's echo, or the
    refusal's code shown in #chat-error."""
    return wait(driver, "the room server's answer to the message", lambda d: d.execute_script(
        "const i = document.getElementById('chat-input'), e = document.getElementById('chat-error');"
        "if (e.getAttribute('data-code')) return e.getAttribute('data-code');"
        "return i.value === '' && !i.readOnly ? 'accepted' : null;"), timeout)


def chat_shot(driver, name):
    driver.execute_script("document.getElementById('chat').scrollIntoView({block: 'center'})")
    screenshot(driver, name)


def no_alert(driver):
    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


class ChatPacer:
    """The room server takes at most 10 chat messages (history requests included) per 10 s from
    each sender (user@box). Times are noted once the server has the message (its echo was seen,
    or the broker acknowledged it), and a window of 10.5 s leaves room for the broker's hop."""
    WINDOW = 10.5
    LIMIT = 10

    def __init__(self):
        self.sent = {}

    def note(self, sender):
        self.sent.setdefault(sender, []).append(time.monotonic())

    def _recent(self, sender):
        now = time.monotonic()
        times = [t for t in self.sent.get(sender, []) if now - t < self.WINDOW]
        self.sent[sender] = times
        return times

    def pick(self, senders):
        """The sender with the most room for one more message, waiting for one as needed."""
        while True:
            sender = min(senders, key=lambda s: len(self._recent(s)))
            if len(self._recent(sender)) < self.LIMIT:
                return sender
            free_at = min(self._recent(s)[0] for s in senders) + self.WINDOW
            time.sleep(max(0.05, free_at - time.monotonic()))

    def wait_clear(self, sender):
        """Until the sender's window is empty."""
        times = self._recent(sender)
        if times:
            time.sleep(max(0.0, times[-1] + self.WINDOW - time.monotonic()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--keep", help="keep the stack's files in this directory")
    args = parser.parse_args()
    build = Path(args.build_dir).resolve()
    shots = build / "browser-shots"

    with Stack(build, work_dir=args.keep) as stack:
        alice_pw = stack.users["alice"][0]
        bob_pw = stack.users["bob"][0]

        # --- the page itself, from jambox-web -------------------------------------------
        ctx = ssl.create_default_context(cafile=str(stack.pki / "ca.crt"))
        with urllib.request.urlopen(stack.url, context=ctx, timeout=10) as r:
            body = r.read().decode()
            csp = r.headers.get("Content-Security-Policy", "")
        check("<script" in body and "app.js" in body, "jambox-web serves the app over HTTPS")
        check("connect-src 'self'" in csp and "script-src 'self'" in csp,
              "the page comes with a strict Content-Security-Policy")

        alice = chromium(shots)
        bob = chromium(shots, width=390, height=844)  # a phone
        try:
            # --- sign in ---------------------------------------------------------------
            sign_in(alice, stack.url, "alice", "not-her-password")
            wait(alice, "the sign-in error", lambda d: (text_of(d, "#login-error") or "").strip())
            check("wrong" in text_of(alice, "#login-error").lower(),
                  "a wrong password is refused with a message")
            screenshot(alice, "sign-in-refused")

            sign_in(alice, stack.url, "alice", alice_pw)
            wait(alice, "box-a online in alice's list", lambda d: d.find_elements(
                By.CSS_SELECTOR, '#boxes [data-box="box-a"].online'), 30)
            check(True, "alice signs in and sees box-a online")
            check("connected" in (text_of(alice, "#conn-state") or "").lower(),
                  "the connection state is shown")
            screenshot(alice, "boxes")

            sign_in(bob, stack.url, "bob", bob_pw)
            wait(bob, "box-b in bob's list", lambda d: d.find_elements(
                By.CSS_SELECTOR, '#boxes [data-box="box-b"]'), 30)
            check(not alice.find_elements(By.CSS_SELECTOR, '#boxes [data-box="box-b"]'),
                  "alice does not see bob's box")
            check(not bob.find_elements(By.CSS_SELECTOR, '#boxes [data-box="box-a"]'),
                  "bob does not see alice's box")

            # --- bob at the broker: his credentials cannot steer box-a --------------------
            before = stack.ctl_json("status", "box-a")
            sock = str(stack.web_dir / "web.sock")
            forged = json.dumps({"command_id": "11111111-2222-4333-8444-555555555555",
                                 "command_type": "set_master", "payload": {"gain_db": -33}})
            for topic in ("jambox/player/box-a/command/from/bob",
                          "jambox/player/box-a/command/from/alice",
                          "jambox/player/box-a/command"):
                subprocess.run(["mosquitto_pub", "--unix", sock, "-u", "bob", "-P", bob_pw,
                                "-V", "mqttv5", "-q", "1", "-t", topic, "-m", forged],
                               capture_output=True, timeout=10)

            # --- alice's mixer -------------------------------------------------------------
            open_mixer(alice, "box-a")
            set_control(alice, "master-gain", -7)
            state, text = wait_fate(alice, "master-gain")
            check(state == "ok", f"a fader move is acknowledged by the box ({state}: {text})")
            status = wait_for("box-a's master at -7 dB", lambda: (
                lambda s: s if s and abs(s["mix"]["master_gain_db"] + 7) < 0.01 else None)(
                stack.ctl_json("status", "box-a")), timeout=10)
            check(status is not None, "the box's status follows the fader")
            check("set_master from alice" in box_log(stack, "box-a"),
                  "box-a's journal names who sent the command")
            check("from bob" not in box_log(stack, "box-a") and before is not None,
                  "bob's forged commands never ran on box-a")

            set_control(alice, "metronome-bpm", 500)
            state, text = wait_fate(alice, "metronome-bpm")
            check(state == "error" and text.strip() and "bpm" in text.lower(),
                  f"an out-of-range value is refused by the box and the page says so ({text})")
            shown = attr_of(alice, '[data-control="metronome-bpm"]', "value")
            wait(alice, "the tempo back at the box's value", lambda d: attr_of(
                d, '[data-control="metronome-bpm"]', "value") != "500", 10)
            check(True, f"the control returns to the box's value (was {shown})")
            screenshot(alice, "mixer")

            # --- meters move while box-a plays ------------------------------------------------
            meter_signal = stack.play("box-a", 60, name="meter-signal")
            level = wait(alice, "input 1's meter above -40 dBFS", lambda d: (
                lambda v: v if v is not None and float(v) > -40 else None)(
                attr_of(d, '[data-meter="input1"]', "data-level")), 30)
            check(float(level) > -40, f"the input meter moves with the test signal ({level} dBFS)")
            screenshot(alice, "mixer-meters")

            # --- the tuner of input 1, on the same signal ---------------------------------------
            set_control(alice, "tuner-input1", True)
            state, text = wait_fate(alice, "tuner-input1")
            check(state == "ok", f"turning the tuner on is acknowledged by the box ({state}: {text})")
            status = wait_for("box-a's tuner of input 1 on", lambda: (
                lambda s: s if s and s["mix"]["tuner"] == [True, False] else None)(
                stack.ctl_json("status", "box-a")), timeout=10)
            check(status is not None, "the box's status says its tuner of input 1 is on")
            # The test signal is eight incommensurate sines: a reading, pitch or "no pitch", once
            # the box has heard a whole window; never stuck at "listening".
            tuned = wait(alice, "a tuner reading for input 1", lambda d: (
                lambda v: v if v in ("pitch", "none") else None)(
                attr_of(d, '[data-tuner="1"]', "data-state")), 20)
            check(tuned in ("pitch", "none"), f"the page shows the box's tuner reading ({tuned})")
            check(attr_of(alice, '[data-tuner="2"]', "data-state") == "off",
                  "the tuner of input 2 stays off")
            alice.execute_script("document.querySelector('[data-tuner=\"1\"]')"
                                 ".scrollIntoView({block: 'center'});")
            screenshot(alice, "mixer-tuner")
            alice.execute_script("window.scrollTo(0, 0);")  # as the steps below expect the page
            set_control(alice, "tuner-input1", False)
            wait(alice, "the tuner of input 1 off again", lambda d: (
                lambda v: v if v == "off" else None)(attr_of(d, '[data-tuner="1"]', "data-state")),
                20)
            # --- the pedalboard: a pedal added, chosen, set, bypassed and removed ---------------
            booster = "http://guitarix.sourceforge.net/plugins/gxbooster#booster"
            wait_for("box-a's plugins read", lambda: (lambda s: s if s and s.get("board", {}).get(
                "ready") else None)(stack.ctl_json("status", "box-a")), timeout=60)
            picker = alice.find_element(By.CSS_SELECTOR, '[data-add-select="1"]')
            picker.click()
            wait(alice, "the pedal picker filled from list_pedals", lambda d: d.find_elements(
                By.CSS_SELECTOR, f'[data-add-select="1"] option[value="{booster}"]'), 30)
            alice.execute_script(
                "const s = document.querySelector('[data-add-select=\"1\"]');"
                "s.value = arguments[0]; s.dispatchEvent(new Event('change'));", booster)
            alice.find_element(By.CSS_SELECTOR, '[data-add="1"]').click()
            wait(alice, "the booster on input 1's board", lambda d: d.find_elements(
                By.CSS_SELECTOR, f'[data-pedal="1-1"][data-uri="{booster}"]'), 30)
            status = stack.ctl_json("status", "box-a")
            check(status["board"]["channels"][0]["pedals"][0]["uri"] == booster,
                  "the box's status has the booster as input 1's first pedal")
            alice.find_element(By.CSS_SELECTOR, '[data-pedal="1-1"] .pedal-name').click()
            knob = wait(alice, "the booster's knobs", lambda d: d.find_elements(
                By.CSS_SELECTOR, '[data-knobs] [data-knob="fslider0_"]'), 20)[0]
            alice.execute_script("arguments[0].value = '4'; arguments[0].dispatchEvent("
                                 "new Event('change'));", knob)
            wait(alice, "the knob's change acknowledged", lambda d: (lambda f: f if f == "ok" else None)(
                attr_of(d, '[data-knobs] .ctl:first-of-type [data-fate]', "data-state")), 15)
            board = stack.ctl_json("send", "box-a", "get_board", "--channel", "1")
            level = dict(board["pedals"][0]["params"]).get("fslider0_")
            # The fader snaps 4 to its nearest step (1/200 of 0.5..20).
            check(level is not None and abs(level - 4) < 0.1,
                  f"the box's board holds the knob's new value ({level})")
            alice.find_element(By.CSS_SELECTOR, '[data-pedal-on="1-1"]').click()
            wait(alice, "the booster bypassed", lambda d: d.find_elements(
                By.CSS_SELECTOR, '[data-pedal="1-1"].bypassed'), 20)
            check(stack.ctl_json("status", "box-a")["board"]["channels"][0]["pedals"][0]["bypassed"],
                  "the box's status says the booster is bypassed")
            screenshot(alice, "pedalboard")
            alice.find_element(By.CSS_SELECTOR, '[data-remove="1-1"]').click()
            wait(alice, "input 1's board empty again", lambda d: not d.find_elements(
                By.CSS_SELECTOR, '[data-pedal="1-1"]'), 20)
            check(stack.ctl_json("status", "box-a")["board"]["channels"][0]["pedals"] == [],
                  "the box's board is empty after the removal")

            # One signal at a time into box-a: the room check compares against a single one.
            meter_signal.terminate()
            meter_signal.wait(timeout=10)

            # --- rooms by code ----------------------------------------------------------------
            alice.find_element(By.ID, "room-create").click()
            code = wait(alice, "a room code", lambda d: (lambda t: t if t and re.fullmatch(
                r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}", t.strip()) else None)(
                (attr_of(d, "#room-code", "value") or text_of(d, "#room-code") or "").strip()), 30)
            check(True, f"alice creates a room and gets code {code}")
            open_mixer(bob, "box-b")
            field = bob.find_element(By.ID, "room-code")
            field.clear()
            field.send_keys(code.lower())
            bob.find_element(By.ID, "room-join").click()
            for driver, who in ((alice, "alice"), (bob, "bob")):
                wait(driver, f"both boxes in {who}'s roster", lambda d: d.find_elements(
                    By.CSS_SELECTOR, '#roster [data-member="box-a"]') and d.find_elements(
                    By.CSS_SELECTOR, '#roster [data-member="box-b"]'), 45)
                check(True, f"{who}'s roster shows both boxes")
            screenshot(alice, "room")
            screenshot(bob, "room-phone")
            rec = stack.heard("box-a", "box-b")
            check(rec.get("correlation_min", 0) > 0.8,
                  f"box-b hears box-a in the room made by code (correlation "
                  f"{rec.get('correlation_min')})")

            # --- the room's chat ---------------------------------------------------------------
            pacer = ChatPacer()
            # Each page asked for the history when it opened the mixer: one message each.
            pacer.note("alice@box-a")
            pacer.note("bob@box-b")
            for driver, who in ((alice, "alice"), (bob, "bob")):
                wait(driver, f"the room chat in {who}'s mixer", lambda d: attr_of(
                    d, "#chat", "data-in-room") == "true", 30)
            joined = wait(alice, "box-b's joining in alice's chat", lambda d: next(
                (i for i in chat_items(d) if "box-b" in i[1] and "joined" in i[2]), None), 20)
            check(joined is not None, f"alice's chat shows box-b joining the room ({joined})")
            check(alice.find_element(By.ID, "chat-log").get_attribute("aria-live") == "polite"
                  and alice.find_elements(By.CSS_SELECTOR, 'label[for="chat-input"]'),
                  "the chat log is a polite live region and the field has a label")

            hello = "hello bob, alice here"
            chat_type(alice, hello)
            outcome = chat_outcome(alice)
            pacer.note("alice@box-a")
            check(outcome == "accepted", f"alice's message is accepted ({outcome})")
            item = wait(bob, "alice's message in bob's chat", lambda d: chat_shows(d, hello), 15)
            check("alice" in item[1] and "box-a" in item[1],
                  f"bob's page shows alice's message with her name and box ({item})")
            check(bob.find_elements(By.CSS_SELECTOR, f'#chat-log [data-seq="{item[0]}"] time'),
                  "the message shows its time")

            hostile = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
            for text in hostile:
                chat_type(alice, text)
                outcome = chat_outcome(alice)
                pacer.note("alice@box-a")
                check(outcome == "accepted", f"alice's message {text!r} is accepted ({outcome})")
            for driver, who in ((bob, "bob"), (alice, "alice")):
                for text in hostile:
                    shown = wait(driver, f"{text!r} in {who}'s chat",
                                 lambda d, t=text: chat_shows(d, t), 15)
                    check(shown is not None, f"{who}'s page shows {text!r} as literal text")
                check(not driver.find_elements(By.CSS_SELECTOR, "#chat-log img, #chat-log script"),
                      f"no img or script element in {who}'s chat log")
                check(no_alert(driver), f"no script ran in {who}'s page")
            chat_shot(bob, "chat-phone")

            # Past the field's maxlength: the room server refuses it, the page says so and keeps
            # the text.
            too_long = "much too long " * 43  # 602 characters
            chat_paste(bob, too_long)
            outcome = chat_outcome(bob)
            pacer.note("bob@box-b")
            error = bob.find_element(By.ID, "chat-error")
            check(outcome == "too_long" and error.is_displayed() and error.text.strip(),
                  f"an over-long message is refused with a visible error ({outcome}: {error.text})")
            check(bob.find_element(By.ID, "chat-input").get_attribute("value") == too_long,
                  "the refused text stays in the field")
            check(not chat_shows(alice, too_long.strip()), "the refused message reached nobody")
            chat_shot(bob, "chat-too-long")
            bob.execute_script("const i = document.getElementById('chat-input'); i.value = '';"
                               "i.dispatchEvent(new Event('input', {bubbles: true}));")

            # 11 messages in quick succession: the room server takes 10 in 10 s.
            pacer.wait_clear("alice@box-a")
            outcomes = []
            for n in range(1, 12):
                chat_type(alice, f"burst {n}")
                outcomes.append(chat_outcome(alice))
                if outcomes[-1] == "accepted":
                    pacer.note("alice@box-a")
            check(outcomes == ["accepted"] * 10 + ["rate_limited"],
                  f"the 11th message in quick succession is refused as rate_limited ({outcomes})")
            error = alice.find_element(By.ID, "chat-error")
            check(error.is_displayed() and "fast" in error.text.lower(),
                  f"the page says the musician is sending too fast ({error.text})")
            check(alice.find_element(By.ID, "chat-input").get_attribute("value") == "burst 11",
                  "the refused message stays in the field")
            wait(bob, "the 10th burst message in bob's chat", lambda d: chat_shows(d, "burst 10"), 15)
            check(not chat_shows(bob, "burst 11"), "the refused 11th message reached nobody")
            chat_shot(alice, "chat")
            alice.find_element(By.ID, "chat-input").clear()

            # A late joiner: 55 messages (from alice and bob, through the broker's musicians'
            # listener, within the rate limit), then a new page shows exactly the last 50.
            sock = str(stack.web_dir / "web.sock")
            senders = {"alice@box-a": ("alice", alice_pw, "box-a"),
                       "bob@box-b": ("bob", bob_pw, "box-b")}
            late = [f"late message {n:02d}" for n in range(1, 56)]
            refused_pubs = []
            for text in late:
                sender = pacer.pick(list(senders))
                user, password, box = senders[sender]
                r = subprocess.run(["mosquitto_pub", "--unix", sock, "-u", user, "-P", password,
                                    "-V", "mqttv5", "-q", "1",
                                    "-t", f"jambox/player/{box}/chat/from/{user}",
                                    "-m", json.dumps({"text": text})],
                                   capture_output=True, text=True, timeout=15)
                pacer.note(sender)
                if r.returncode != 0:
                    refused_pubs.append((text, r.stderr.strip()))
            check(not refused_pubs, f"the broker took all 55 messages {refused_pubs[:2]}")
            wait(alice, "the 55th message in alice's chat", lambda d: chat_shows(d, late[-1]), 30)
            first_page = [i[2] for i in chat_items(alice)]
            check(all(t in first_page for t in late), "alice's open page got all 55 messages")

            pacer.pick(["alice@box-a"])  # the new page's history request
            late_page = chromium(shots)
            try:
                sign_in(late_page, stack.url, "alice", alice_pw)
                open_mixer(late_page, "box-a")
                pacer.note("alice@box-a")
                wait(late_page, "the chat history in the new page",
                     lambda d: chat_shows(d, late[-1]), 30)
                shown = chat_items(late_page)
                texts = [i[2] for i in shown]
                check(len(shown) == 50 and texts == late[5:],
                      f"the new page shows exactly the last 50 messages ({len(shown)} shown, "
                      f"first {texts[:1]}, last {texts[-1:]})")
                check([i[0] for i in shown] == sorted({i[0] for i in shown}),
                      "in order, each once")
                check(texts == first_page[-50:], "the same last 50 as the page that was open")
                chat_shot(late_page, "chat-late-joiner")
                errors = [e for e in console_errors(late_page) if "favicon" not in e["message"]]
                check(not errors, f"no errors in the new page's console {errors[:3]}")
            finally:
                late_page.quit()

            for driver, who in ((alice, "alice"), (bob, "bob")):
                errors = [e for e in console_errors(driver) if "favicon" not in e["message"]]
                check(not errors, f"no errors in {who}'s console {errors[:3]}")
        finally:
            alice.quit()
            bob.quit()
        if failures:
            for name in ("mosquitto", "lighttpd", "broadcast", "box-a", "box-b"):
                print(f"---- {name}.log (tail)\n" + "\n".join(stack.log(name).splitlines()[-25:]))

    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
