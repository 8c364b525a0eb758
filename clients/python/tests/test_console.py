"""The web console (mq_client.console) driven by a real headless browser:
Debian's chromium through python3-selenium and chromium-driver.

The console runs as a subprocess on a free port, once as the superuser of
the test and once as a role that may only read.  A missing browser is a
failure, not a skip: the test command installs it.  With MQ_TEST_SCREENSHOTS
set, each page's screenshot is saved there.
"""
import html
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

import psycopg

from helpers import HERE, sql, wait_for
from mq_client import Client

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

CHROMIUM = os.environ.get("MQ_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MQ_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = os.environ.get("MQ_TEST_SCREENSHOTS")
DASHBOARD = os.path.join(HERE, "..", "..", "..", "monitoring", "grafana", "mq-dashboard.json")
RO_ROLE = "mq_console_ro"
HOSTILE = '<img src=x onerror="document.title=\'pwned\';window.pwned=1">'
SCRIPT = "<script>window.pwned=2;document.title='pwned'</script>"


def start_console(dsn, *options, listen="127.0.0.1:0"):
    """python -m mq_client.console on a free port; returns (process, base URL
    on 127.0.0.1)."""
    import mq_client
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(mq_client.__file__)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mq_client.console", "--dsn", dsn, "--listen", listen,
         "--interval", "1", "--refresh", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    m = re.search(r"http://(127\.0\.0\.1|0\.0\.0\.0):(\d+)/", line)
    if not m:
        proc.kill()
        raise AssertionError(f"the console did not start: {line!r} {proc.stderr.read()!r}")
    return proc, f"http://127.0.0.1:{m.group(2)}"


def stop_console(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def browser():
    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            raise AssertionError(f"{what} is missing at {path}: apt-get install chromium "
                                 "chromium-driver python3-selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    return driver


def post(base, path, fields, origin="same", referer=None):
    """A POST made outside the browser, as a forger would; returns
    (status, body)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin == "same":
        headers["Origin"] = base
    elif origin is not None:
        headers["Origin"] = origin
    if referer is not None:
        headers["Referer"] = referer
    conn.request("POST", path, urllib.parse.urlencode(fields), headers)
    resp = conn.getresponse()
    body = resp.read().decode("utf-8")
    conn.close()
    return resp.status, body


def request(base, method, path, headers=None, fields=None):
    """Any request with the headers given (a forged Host too); returns
    (status, body)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = dict(headers or {})
    body = None
    if fields is not None:
        body = urllib.parse.urlencode(fields)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body, headers)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8")
    conn.close()
    return resp.status, text


def token_of(page):
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=60) as resp:
        return resp.status, dict(resp.headers), resp.read().decode("utf-8")


def length(queue):
    return sql("SELECT queue_length FROM mq.metrics(%s)", (queue,))[0][0]


class ConsoleTest(unittest.TestCase):
    queues = ("pyc_con_orders", "pyc_con_dlq", "pyc_con_hostile", "pyc_con_ro", ".", "..")
    stream = "pyc_con_clicks"
    exchange = "pyc_con_events"

    @classmethod
    def setUpClass(cls):
        cls.client = Client()
        cls._drop()
        c = cls.client
        c.create_queue("pyc_con_dlq")
        c.create_queue("pyc_con_orders", max_receives=1, dead_letter_queue="pyc_con_dlq")
        c.create_queue("pyc_con_hostile")
        c.create_queue("pyc_con_ro")
        c.create_queue(".")  # names browsers would resolve as path segments
        c.create_queue("..")
        c.create_stream(cls.stream, partitions=2)
        c.create_consumer_group(cls.stream, "billing", start="earliest")
        for i in range(10):
            c.append(cls.stream, {"click": i}, key=f"user-{i % 3}")
        c.poll(cls.stream, "billing", "worker-1", max_records=3, session_timeout=3600)
        c.create_exchange(cls.exchange + "_alt", type="fanout")
        c.create_exchange(cls.exchange, type="topic", alternate_exchange=cls.exchange + "_alt")
        c.bind(cls.exchange, "pyc_con_orders", "order.*")
        c.bind(cls.exchange, "pyc_con_hostile", "#")
        sql(f"DROP ROLE IF EXISTS {RO_ROLE}")
        sql(f"CREATE ROLE {RO_ROLE} LOGIN")
        for q in cls.queues:
            sql("SELECT mq.grant(%s, %s, 'read')", (q, RO_ROLE))
        sql("SELECT mq.grant(%s, %s, 'read')", (cls.stream, RO_ROLE))
        cls.admin, cls.base = start_console("")
        cls.ro, cls.ro_base = start_console(f"user={RO_ROLE}")
        cls.driver = browser()

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        stop_console(cls.admin)
        stop_console(cls.ro)
        cls._drop()
        sql(f"DROP ROLE IF EXISTS {RO_ROLE}")
        cls.client.close()

    @classmethod
    def _drop(cls):
        c = cls.client
        c.drop_exchange(cls.exchange, if_exists=True, cascade=True)
        c.drop_exchange(cls.exchange + "_alt", if_exists=True, cascade=True)
        for q in ("pyc_con_orders",) + cls.queues:
            c.drop_queue(q, if_exists=True)
        c.drop_stream(cls.stream, if_exists=True)

    def setUp(self):
        for q in self.queues:
            self.client.purge_queue(q)

    def open(self, base, path, shot=None):
        self.driver.get(base + path)
        if shot:
            self.shot(shot)

    def shot(self, name):
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            self.driver.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def click(self, css, then):
        """Click and wait for the next page to say ``then``."""
        self.driver.find_element(By.CSS_SELECTOR, css).click()

        def shown():
            try:
                return then in self.text()
            except WebDriverException:  # between two pages
                return False
        wait_for(shown, what=f"a page saying {then!r}")

    def forms(self):
        return self.driver.find_elements(By.TAG_NAME, "form")

    def test_overview_lists_queues_streams_and_exchanges(self):
        self.client.send("pyc_con_orders", {"n": 1})
        wait_for(lambda: "<polyline" in get(self.base, "/")[2],
                 what="samples for the sparklines")
        self.open(self.base, "/", "console-overview")
        names = [a.text for a in self.driver.find_elements(By.CSS_SELECTOR, "tr.queue td a")]
        for q in self.queues:
            self.assertIn(q, names)
        streams = [a.text for a in self.driver.find_elements(By.CSS_SELECTOR, "tr.stream td a")]
        self.assertIn(self.stream, streams)
        exchanges = [a.text for a in
                     self.driver.find_elements(By.CSS_SELECTOR, "tr.exchange td a")]
        self.assertIn(self.exchange, exchanges)
        row = self.driver.find_element(
            By.XPATH, "//tr[@class='queue'][td/a[text()='pyc_con_orders']]")
        self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.depth").text, "1")
        self.assertTrue(self.driver.find_elements(By.CSS_SELECTOR, "svg.spark polyline"),
                        "sparklines are drawn once samples are in")

    def test_queue_page_shows_a_message_without_leasing_it(self):
        msg_id = self.client.send("pyc_con_orders", {"order": "A-17", "items": [1, 2]},
                                  headers={"trace": "t-1"})
        self.client.send("pyc_con_orders", bytes([0, 1, 2, 255]))
        time.sleep(2)
        self.open(self.base, "/queues/pyc_con_orders", "console-queue")
        item = self.driver.find_element(By.ID, f"msg-{msg_id}")
        body = item.find_element(By.CSS_SELECTOR, "pre.body").text
        self.assertEqual(json.loads(body), {"order": "A-17", "items": [1, 2]})
        self.assertIn('"order": "A-17"', body, "JSON is pretty-printed")
        self.assertIn("00 01 02 ff", self.text(), "bytes are shown as hex")
        self.assertEqual(self.driver.find_element(By.ID, "depth").text, "2")
        self.assertTrue(self.driver.find_elements(By.CSS_SELECTOR, "svg.chart"))
        # peeking leased nothing: both messages are visible, never received
        self.assertEqual(sql("SELECT visible, in_flight FROM mq.metrics('pyc_con_orders')"),
                         [(2, 0)])
        [m] = [m for m in self.client.read("pyc_con_orders", 10) if m.msg_id == msg_id]
        self.assertEqual(m.read_ct, 1)

    def test_send_a_test_message_with_confirmation(self):
        self.open(self.base, "/queues/pyc_con_orders")
        area = self.driver.find_element(By.CSS_SELECTOR, "form.send textarea")
        area.clear()
        area.send_keys('{"test": "from the browser"}')
        self.click("form.send button", "Send this json message")
        self.assertEqual(length("pyc_con_orders"), 0, "nothing is sent before the confirmation")
        self.click("#confirm", "Sent message")
        self.assertEqual(sql("SELECT body FROM mq.read('pyc_con_orders', 10)"),
                         [({"test": "from the browser"},)])

    def test_redrive_moves_dead_letters_back(self):
        for i in range(3):
            self.client.send("pyc_con_orders", {"n": i})
        for m in self.client.read("pyc_con_orders", 10):
            self.client.set_vt("pyc_con_orders", m.msg_id, 0)
        self.client.read("pyc_con_orders", 10)  # max_receives 1: dead-lettered
        self.assertEqual((length("pyc_con_orders"), length("pyc_con_dlq")), (0, 3))
        self.open(self.base, "/queues/pyc_con_dlq")  # offered on the dead-letter queue too
        self.assertEqual([b.text for b in self.driver.find_elements(
            By.CSS_SELECTOR, "#redrive-sources button")], ["Redrive into pyc_con_orders…"])
        self.open(self.base, "/queues/pyc_con_orders")
        self.assertEqual(self.driver.find_element(By.ID, "dead-depth").text, "3")
        self.click("#dead-letters form.redrive button", "back into pyc_con_orders")
        self.shot("console-confirm-redrive")
        self.assertEqual(length("pyc_con_dlq"), 3, "nothing moves before the confirmation")
        self.click("#confirm", "Moved 3 dead letters back")
        self.assertEqual((length("pyc_con_orders"), length("pyc_con_dlq")), (3, 0))

    def test_purge_with_confirmation(self):
        self.client.send("pyc_con_hostile", "x")
        self.open(self.base, "/queues/pyc_con_hostile")
        self.click("form.purge button", "cannot be undone")
        self.assertEqual(length("pyc_con_hostile"), 1)
        self.click("#confirm", "Purged 1 messages")
        self.assertEqual(length("pyc_con_hostile"), 0)

    def test_read_only_role_sees_no_actions_and_cannot_act(self):
        self.client.send("pyc_con_ro", {"keep": "me"})
        self.open(self.ro_base, "/queues/pyc_con_ro", "console-queue-read-only")
        self.assertIn("keep", self.text(), "a role with read peeks at the messages")
        self.assertEqual(self.forms(), [], "no action buttons for a role that may only read")
        self.assertNotIn("Purge", self.text())
        token = self.driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]') \
            .get_attribute("content")
        # with its own console's token and Origin, mq itself refuses
        for action, fields in (("purge", {}), ("send", {"body": "{}", "format": "json"})):
            status, body = post(self.ro_base, f"/queues/pyc_con_ro/{action}",
                                dict(fields, csrf=token, confirm="yes"))
            self.assertEqual(status, 403, body)
            self.assertIn("42501", body)
        self.assertEqual(length("pyc_con_ro"), 1)

    def test_forged_posts_are_refused(self):
        self.client.send("pyc_con_ro", {"keep": "me"})
        self.open(self.base, "/queues/pyc_con_ro")
        token = self.driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]') \
            .get_attribute("content")
        path = "/queues/pyc_con_ro/purge"
        cases = [
            ("no token", {"confirm": "yes"}, "same", "CSRF token"),
            ("a wrong token", {"confirm": "yes", "csrf": "x" * 43}, "same", "CSRF token"),
            ("another Origin", {"confirm": "yes", "csrf": token}, "http://evil.example",
             "cross-origin"),
            ("no Origin nor Referer", {"confirm": "yes", "csrf": token}, None, "no Origin"),
        ]
        for what, fields, origin, error in cases:
            with self.subTest(what):
                status, body = post(self.base, path, fields, origin)
                self.assertEqual(status, 403, body)
                self.assertIn(error, body)
        status, body = post(self.base, path, {"confirm": "yes", "csrf": token}, None,
                            referer="http://evil.example/x")
        self.assertEqual((status, "cross-origin" in body), (403, True), body)
        # GET does nothing
        with self.assertRaises(urllib.error.HTTPError) as e:
            get(self.base, path)
        self.assertEqual(e.exception.code, 404)
        self.assertEqual(length("pyc_con_ro"), 1, "no forged request purged the queue")
        # and the same request from the console's own page does
        status, body = post(self.base, path, {"confirm": "yes", "csrf": token}, None,
                            referer=self.base + "/queues/pyc_con_ro")
        self.assertEqual(status, 303, body)
        self.assertEqual(length("pyc_con_ro"), 0)

    def test_read_only_transactions_show_errors_in_place(self):
        """As on a hot standby: pages and peeking still work; actions say why not."""
        self.client.send("pyc_con_ro", {"keep": "me"})
        proc, base = start_console("options='-c default_transaction_read_only=on'")
        try:
            self.open(base, "/queues/pyc_con_ro")
            self.assertIn('"keep": "me"', self.text(), "mq.peek() works read-only")
            self.assertEqual(self.driver.find_element(By.ID, "depth").text, "1")
            token = self.driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]') \
                .get_attribute("content")
            status, body = post(base, "/queues/pyc_con_ro/purge",
                                {"csrf": token, "confirm": "yes"})
            self.assertEqual(status, 400, body)
            self.assertIn("read-only transaction (SQLSTATE 25006)", body)
        finally:
            stop_console(proc)
        self.assertEqual(length("pyc_con_ro"), 1)

    def test_bad_requests_get_clear_errors(self):
        self.open(self.base, "/")
        token = self.driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]') \
            .get_attribute("content")
        big = "a" * (1024 * 1024 + 100)  # over mq.max_message_size, under the form limit
        cases = [
            ("/queues/pyc_con_ro/send", {"body": "{", "format": "json"}, 400,
             "the body is not JSON: Expecting property name"),
            ("/queues/pyc_con_ro/send", {"body": "x", "format": "xml"}, 400,
             "format is json or text"),
            ("/queues/pyc_con_ro/send", {"body": big, "format": "text", "confirm": "yes"},
             400, "(SQLSTATE 54000)"),
            ("/queues/pyc_con_ro/redrive", {}, 400, "redrive needs a target queue"),
            ("/queues/pyc_con_nope/send", {"body": "1", "format": "json", "confirm": "yes"},
             400, "pyc_con_nope"),
            ("/queues/pyc_con_ro/explode", {}, 404, "no such action"),
            ("/queues/pyc_con_ro/purge", {"filler": "x" * (1024 * 1024 + 8192)}, 413,
             "form too large"),
            ("/queues/pyc_con_ro/send", {"body": "[" * 100000 + "]" * 100000,
                                         "format": "json"}, 400, "nested too deeply"),
            ("/queues/pyc_con_ro/send", {"body": "a\0b", "format": "text", "confirm": "yes"},
             400, "a text body cannot contain NUL characters"),
            ("/queues/a%00b/purge", {}, 400, "names cannot contain NUL characters"),
        ]
        for path, fields, status, error in cases:
            with self.subTest(path=path, fields=str(fields)[:60]):
                got, body = post(self.base, path, dict(fields, csrf=token))
                self.assertEqual(got, status, body[:2000])
                self.assertIn(html.escape(error, quote=True), body)
        for path, error in (("/queues/pyc_con_nope", "no queue named &#39;pyc_con_nope&#39;"),
                            ("/streams/pyc_con_nope", "no stream named &#39;pyc_con_nope&#39;"),
                            ("/exchanges/pyc_con_nope",
                             "no exchange named &#39;pyc_con_nope&#39;"),
                            ("/static/other.js", "no such file"),

                            ("/nothing/here", "no such page")):
            with self.subTest(path=path):
                with self.assertRaises(urllib.error.HTTPError) as e:
                    get(self.base, path)
                self.assertEqual(e.exception.code, 404)
                self.assertIn(error, e.exception.read().decode())
        for path in ("/queues/a%00b", "/streams/a%00b", "/queues/?name=a%00b"):
            with self.subTest(path=path):
                status, body = request(self.base, "GET", path)
                self.assertEqual(status, 400, body)
                self.assertIn("names cannot contain NUL characters", body)
        url = urllib.parse.urlsplit(self.base)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        conn.request("POST", "/queues/pyc_con_ro/purge", json.dumps({"csrf": token}),
                     {"Content-Type": "application/json", "Origin": self.base})
        resp = conn.getresponse()
        self.assertEqual((resp.status, b"x-www-form-urlencoded forms" in resp.read()),
                         (415, True))
        conn.close()
        self.assertEqual(length("pyc_con_ro"), 0)

    def test_another_host_header_is_refused(self):
        conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(self.base).port,
                                          timeout=60)
        conn.request("GET", "/", headers={"Host": "rebound.example:80"})
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        self.assertEqual(resp.status, 421, body)
        self.assertNotIn("csrf-token", body)

    def test_bodies_that_cannot_be_parsed_or_decoded(self):
        """Too deeply nested for Python's JSON parser, or in a charset that
        is not a text encoding: each shows as text or bytes, the page works."""
        q = "pyc_con_hostile"
        deep = "[" * 3000 + "]" * 3000
        ids = [sql("SELECT mq.send(%s, %s::jsonb)", (q, deep))[0][0],
               self.client.send(q, deep.encode(), content_type="application/json")]
        for charset in ("idna", "undefined", "punycode"):
            ids.append(self.client.send(q, b"\xff\xfe caf\xc3\xa9 -- ",
                                        content_type=f"text/plain; charset={charset}"))
        ids.append(self.client.send(q, {"after": "them"}))
        status, _, page = get(self.base, f"/queues/{q}")
        self.assertEqual(status, 200, page[:3000])
        for msg_id in ids:
            self.assertIn(f'id="msg-{msg_id}"', page)
        self.assertEqual(page.count("[" * 3000), 2, "deep JSON is shown as it is")
        self.assertEqual(page.count("ff fe 20 63 61 66 c3 a9"), 3,
                         "a charset that is no text encoding: the bytes in hex")
        self.assertIn('"after": "them"', html.unescape(page))

    def test_large_bodies_are_clipped(self):
        q = "pyc_con_hostile"
        big = "x" * 200000
        self.client.send(q, big)
        self.client.send(q, {"big": big})
        self.client.send(q, big.encode(), content_type="application/octet-stream")
        status, _, page = get(self.base, f"/queues/{q}?peek=1000")
        self.assertEqual(status, 200)
        self.assertEqual(page.count("first 64 kB shown)"), 3, page[-3000:])
        self.assertIn("(200,000 bytes, first 64 kB shown)", page)
        self.assertIn("(200,011 bytes, first 64 kB shown)", page)  # {"big": "x..."}
        self.assertIn("the next 50 a read would get", page, "at most 50 peeked")
        self.assertLess(len(page), 1000000)

    def test_hostile_bodies_are_shown_as_text(self):
        self.client.send("pyc_con_hostile", HOSTILE)  # text/plain
        self.client.send("pyc_con_hostile", HOSTILE.encode(), content_type="text/html")
        self.client.send("pyc_con_hostile", {"html": SCRIPT, HOSTILE: 1},
                         headers={"x": HOSTILE})
        _, headers, _ = get(self.base, "/queues/pyc_con_hostile")
        csp = headers["Content-Security-Policy"]
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.open(self.base, "/queues/pyc_con_hostile", "console-queue-hostile")
        time.sleep(1)  # an image's onerror would have run by now
        self.assertNotIn("pwned", self.driver.title)
        self.assertIsNone(self.driver.execute_script("return window.pwned"))
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "#messages img"), [])
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "#messages script"), [])
        bodies = [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, "pre.body")]
        self.assertEqual(bodies.count(HOSTILE), 2, bodies)
        self.assertIn(SCRIPT, self.text())

    def test_queues_named_dot_and_dot_dot(self):
        self.client.send("..", {"in": "dot dot"})
        self.open(self.base, "/")
        self.driver.find_element(
            By.XPATH, "//tr[@class='queue']/td/a[text()='..']").click()
        wait_for(lambda: self.driver.title.startswith("Queue .. "), what="the page of queue ..")
        self.assertIn('"in": "dot dot"', self.text())
        self.click("form.purge button", "cannot be undone")
        self.click("#confirm", "Purged 1 messages")
        self.assertEqual(length(".."), 0)
        self.open(self.base, "/")
        self.driver.find_element(By.XPATH, "//tr[@class='queue']/td/a[text()='.']").click()
        wait_for(lambda: self.driver.title.startswith("Queue . "), what="the page of queue .")
        self.assertEqual(self.driver.find_element(By.TAG_NAME, "h1").text, "Queue .")

    def test_done_messages_are_shown_once(self):
        status, _, page = get(self.base, "/queues/pyc_con_ro?done=purged&n=999")
        self.assertEqual(status, 200)
        self.assertNotIn("Purged", page, "nothing was purged")
        self.client.send("pyc_con_ro", "x")
        self.open(self.base, "/queues/pyc_con_ro")
        self.click("form.purge button", "cannot be undone")
        self.click("#confirm", "Purged 1 messages")
        self.driver.refresh()
        wait_for(lambda: "Queue pyc_con_ro" in self.text(), what="the page again")
        self.assertNotIn("Purged", self.text(), "shown once")

    def test_stream_and_exchange_pages(self):
        time.sleep(2)
        self.open(self.base, f"/streams/{self.stream}", "console-stream")
        self.assertEqual(self.driver.find_element(By.CSS_SELECTOR, "h3.group").text
                         .split()[0], "billing")
        text = self.text()
        self.assertIn("worker-1", text, "the member and what it holds")
        lag = sql("SELECT sum(lag) FROM mq.consumer_groups WHERE stream = %s", (self.stream,))
        self.assertIn(f"lag {lag[0][0]}", text)
        self.assertTrue(self.driver.find_elements(By.CSS_SELECTOR, "#groups svg.chart"))
        self.open(self.base, f"/exchanges/{self.exchange}", "console-exchange")
        nodes = [t.text for t in
                 self.driver.find_elements(By.CSS_SELECTOR, "svg.graph text.node")]
        self.assertEqual(sorted(nodes), sorted([self.exchange, "pyc_con_orders",
                                                "pyc_con_hostile", self.exchange + "_alt"]))
        keys = [t.text for t in self.driver.find_elements(By.CSS_SELECTOR, "svg.graph text.key")]
        self.assertEqual(sorted(keys), ["#", "(alternate exchange)", "order.*"])

    def test_metrics_pass_promtool(self):
        status, headers, text = get(self.base, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        self.assertIn('mq_queue_length{queue="pyc_con_orders"}', text)
        self.assertIn(f'mq_stream_group_lag{{stream="{self.stream}",group="billing"', text)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool is missing: apt-get install prometheus")
        check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # the read-only role sees its queues' metrics only
        _, _, ro_text = get(self.ro_base, "/metrics")
        self.assertIn('mq_queue_length{queue="pyc_con_ro"}', ro_text)

    def test_grafana_dashboard_uses_only_exposed_metrics(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        for key in ("title", "uid", "panels", "schemaVersion", "templating", "time"):
            self.assertIn(key, dash)
        self.assertIsInstance(dash["schemaVersion"], int)
        _, _, text = get(self.base, "/metrics")
        exposed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        used = set()
        exprs = 0
        for panel in dash["panels"]:
            for key in ("type", "title", "gridPos", "id"):
                self.assertIn(key, panel, panel.get("title"))
            self.assertEqual(set(panel["gridPos"]), {"h", "w", "x", "y"})
            for target in panel.get("targets", []):
                self.assertIn("refId", target)
                exprs += 1
                used |= set(re.findall(r"\bmq_[a-z_]+\b", target["expr"]))
        for var in dash["templating"]["list"]:
            if var.get("type") == "query":
                used |= set(re.findall(r"\bmq_[a-z_]+\b", json.dumps(var.get("query"))))
        self.assertGreaterEqual(exprs, 6)
        self.assertTrue(used)
        self.assertEqual(used - exposed, set(), "metric names the console's /metrics lacks")
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        # every query parses as PromQL: promtool checks them as recording rules
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query_{i}", "expr": t["expr"]}
            for i, t in enumerate(t for p in dash["panels"] for t in p.get("targets", []))]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            json.dump(rules, f)  # JSON is YAML
            f.flush()
            check = subprocess.run([shutil.which("promtool") or "promtool", "check", "rules",
                                    f.name], capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class ConsoleGuardsTest(unittest.TestCase):
    """Host and Origin rules, timeouts and bounds, with plain HTTP requests
    (a forger's or a reverse proxy's headers) on consoles of their own."""
    queues = ("pyc_con_guard", "pyc_con_guard_2", "pyc_con_guard_3")

    @classmethod
    def setUpClass(cls):
        cls.client = Client()
        for q in cls.queues:
            cls.client.drop_queue(q, if_exists=True)
            cls.client.create_queue(q)
        # on every address, named console.example.com behind a proxy (any port) and
        # other.example on port 8443
        cls.wild, cls.wild_base = start_console(
            "", "--allow-host", "console.example.com", "--allow-host", "other.example:8443",
            listen="0.0.0.0:0")
        cls.port = urllib.parse.urlsplit(cls.wild_base).port
        cls.slow, cls.slow_base = start_console(
            "", "--db-timeout", "5", "--max-db-requests", "1", "--client-timeout", "2",
            "--max-sampled", "2")

    @classmethod
    def tearDownClass(cls):
        stop_console(cls.wild)
        stop_console(cls.slow)
        for q in cls.queues:
            cls.client.drop_queue(q, if_exists=True)
        cls.client.close()

    def test_host_header_on_a_wildcard_address(self):
        """DNS rebinding: a name the attacker controls never gets an answer."""
        p = self.port
        for host, status in ((f"rebound.example:{p}", 421), ("rebound.example", 421),
                             (f"console.example.com.rebound.example:{p}", 421), ("", 421),
                             (f"127.0.0.1:{p}", 200), (f"localhost:{p}", 200),
                             (f"10.1.2.3:{p}", 200), (f"[::1]:{p}", 200),
                             ("console.example.com", 200), ("console.example.com:443", 200),
                             (f"console.example.com:{p}", 200), ("other.example:8443", 200),
                             ("other.example", 421), ("other.example:443", 421)):
            with self.subTest(host=host):
                got, body = request(self.wild_base, "GET", "/queues/pyc_con_guard",
                                    {"Host": host})
                self.assertEqual(got, status, body[:2000])
                if status == 421:
                    self.assertIn("does not answer to host", body)
                    self.assertNotIn("csrf-token", body)

    def test_origin_of_posts(self):
        p = self.port
        _, page = request(self.wild_base, "GET", "/", {"Host": f"127.0.0.1:{p}"})
        token = token_of(page)
        for host, origin, status in (
                ("console.example.com", "https://console.example.com", 200),
                ("console.example.com", "https://console.example.com:443", 200),
                ("console.example.com", "http://console.example.com", 200),
                (f"127.0.0.1:{p}", "https://console.example.com", 200),  # Host rewritten
                (f"127.0.0.1:{p}", f"http://127.0.0.1:{p}", 200),
                ("other.example:8443", "https://other.example:8443", 200),
                ("other.example:8443", "https://other.example", 403),
                ("console.example.com", "https://evil.example", 403),
                ("console.example.com", "https://console.example.com.evil.example", 403),
                (f"127.0.0.1:{p}", "http://10.9.9.9:80", 403),
                ("console.example.com", "null", 403)):
            with self.subTest(host=host, origin=origin):
                got, body = request(self.wild_base, "POST", "/queues/pyc_con_guard/purge",
                                    {"Host": host, "Origin": origin}, {"csrf": token})
                self.assertEqual(got, status, body[:2000])
                self.assertIn("cannot be undone" if status == 200 else "cross-origin", body)

    def test_a_held_lock_times_out_and_excess_requests_get_503(self):
        with psycopg.connect() as locker:
            locker.execute("LOCK TABLE mq._queue IN ACCESS EXCLUSIVE MODE")
            status, body = request(self.slow_base, "GET", "/queues/pyc_con_guard")
            self.assertEqual(status, 503, body)
            self.assertIn("the database did not answer within 5 s (--db-timeout)", body)
            results = []
            waiting = threading.Thread(target=lambda: results.append(
                request(self.slow_base, "GET", "/queues/pyc_con_guard")))
            waiting.start()
            try:
                wait_for(lambda: sql("SELECT count(*) FROM pg_stat_activity"
                                     " WHERE application_name = 'mq console'"
                                     " AND wait_event_type = 'Lock'")[0][0] == 1,
                         what="the console waiting for the lock")
                status, body = request(self.slow_base, "GET", "/queues/pyc_con_guard")
            finally:
                locker.rollback()
                waiting.join()
            self.assertEqual(status, 503, body)
            self.assertIn("too many requests are waiting for the database", body)
        self.assertEqual(request(self.slow_base, "GET", "/queues/pyc_con_guard")[0], 200)
        # SET LOCAL: the console's settings end with its transactions
        self.assertEqual(sql("SELECT count(*) FROM pg_stat_activity WHERE application_name"
                             " LIKE 'mq console%%' AND state = 'idle in transaction'"), [(0,)])

    def test_silent_clients_are_dropped(self):
        url = urllib.parse.urlsplit(self.slow_base)
        for start in (b"GET / HTTP/1.1\r\nHost: 127",
                      b"POST /queues/pyc_con_guard/purge HTTP/1.1\r\nHost: "
                      + url.netloc.encode() + b"\r\nContent-Type: "
                      b"application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ncsrf="):
            with self.subTest(start=start[:20]):
                with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
                    sock.sendall(start)
                    self.assertEqual(sock.recv(4096), b"",
                                     "the console closes the connection (--client-timeout)")

    def test_sampler_keeps_compact_points_by_name(self):
        from mq_client.console._sampler import Sampler
        sampler = Sampler("", 1.0, max_sampled=2)
        try:
            for _ in range(3):
                sampler.take()
        finally:
            sampler.stop()
        self.assertEqual(len(sampler.queues), 2, "at most --max-sampled queues")
        for name, points in sampler.queues.items():
            self.assertEqual(len(points), 3)
            for point in points:
                self.assertIsInstance(point, tuple)
                self.assertEqual(len(point), 6)
                self.assertTrue(all(isinstance(v, float) for v in point), point)
        self.assertRegex(sampler.note, r"^Charts cover the first 2 of [0-9,]+ queues")

    def test_sampled_queues_are_bounded(self):
        wait_for(lambda: "Charts cover the first 2 of" in request(
            self.slow_base, "GET", "/")[1], what="a sample")
        _, page = request(self.slow_base, "GET", "/")
        self.assertRegex(page, r"Charts cover the first 2 of [0-9,]+ queues .*"
                         r"\(at most 2 of each are sampled: --max-sampled\)")


class ConsoleStartTest(unittest.TestCase):
    """The command's errors: each names what is wrong, with exit status 1 or 2."""

    def run_console(self, *args):
        import mq_client
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(mq_client.__file__)))
        return subprocess.run([sys.executable, "-m", "mq_client.console", *args],
                              capture_output=True, text=True, timeout=120, env=env)

    def test_help(self):
        out = self.run_console("--help")
        self.assertEqual(out.returncode, 0)
        for option in ("--dsn", "--listen", "--allow-host", "--interval", "--refresh",
                       "--db-timeout", "--max-db-requests", "--client-timeout",
                       "--max-sampled"):
            self.assertIn(option, out.stdout)

    def test_bad_listen(self):
        out = self.run_console("--listen", "nowhere")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--listen wants HOST:PORT, not 'nowhere'", out.stderr)

    def test_bad_allow_host(self):
        out = self.run_console("--allow-host", "http://x/")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--allow-host wants HOST or HOST:PORT, not 'http://x/'", out.stderr)

    def test_no_database(self):
        out = self.run_console("--dsn", "dbname=mq_console_no_such_db", "--listen",
                               "127.0.0.1:0")
        self.assertEqual(out.returncode, 1)
        self.assertIn("mq console: cannot use mq at this DSN:", out.stderr)
        self.assertIn("mq_console_no_such_db", out.stderr)

    def test_address_in_use(self):
        proc, base = start_console("")
        try:
            out = self.run_console("--listen", base[len("http://"):])
        finally:
            stop_console(proc)
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"mq console: cannot listen on {base[len('http://'):]}:", out.stderr)


if __name__ == "__main__":
    unittest.main()
