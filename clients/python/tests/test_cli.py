"""mqctl, the command line: every subcommand run as a process against the
server, its output checked (and its --json parsed); top under tmux.

MQ_TEST_SCREENSHOTS: a directory where the top test saves the screen it
captured (mqctl-top.txt); nothing is saved when it is unset."""
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from helpers import ClientTest, sql, wait_for  # (first: it finds mq_client)
import mq_client  # noqa: E402

# the package's directory on the path of the processes (the installed one
# when installed, else the source tree helpers put first)
ENV = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(mq_client.__file__)))
MQCTL = [sys.executable, "-m", "mq_client.cli"]


def mqctl(*args, input=None, timeout=120):
    """Run mqctl; standard input is /dev/null unless input is given."""
    return subprocess.run(MQCTL + list(args), input=input, capture_output=True, text=True,
                          timeout=timeout, env=ENV,
                          stdin=subprocess.DEVNULL if input is None else None)


def under_pty(args, answer=None, timeout=120):
    """Run mqctl with standard input and error on a terminal; answer the
    prompt with answer. Returns (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(MQCTL + list(args), stdin=slave, stderr=slave,
                            stdout=subprocess.PIPE, env=ENV)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    answered = answer is None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    out = proc.stdout.read().decode()
    code = proc.wait(timeout=timeout)
    proc.stdout.close()
    os.close(master)
    return code, out, seen.decode("utf-8", "replace")


def length(queue):
    return sql("SELECT queue_length FROM mq.metrics(%s)", (queue,))[0][0]


class CliTest(ClientTest):
    queues = ("cli_q", "cli_dlq", "cli_src", "cli_dst", "cli_n")
    streams = ("cli_s", "cli_s2", "cli_s3")

    def setUp(self):
        super().setUp()
        sql("SELECT mq.drop_exchange('cli_x', if_exists => true, cascade => true)")

    def tearDown(self):
        sql("SELECT mq.drop_exchange('cli_x', if_exists => true, cascade => true)")
        super().tearDown()

    def ok(self, *args, input=None):
        """Run mqctl, expect exit 0; returns its standard output."""
        r = mqctl(*args, input=input)
        self.assertEqual(r.returncode, 0, f"mqctl {' '.join(args)}: {r.stderr}")
        return r.stdout


class HelpTest(CliTest):
    COMMANDS = ("queues", "streams", "groups", "exchanges", "peek", "send", "read", "ack",
                "tail", "purge", "redrive", "export", "import", "top", "console")

    def test_help_of_every_subcommand(self):
        top = self.ok("--help")
        for command in self.COMMANDS:
            self.assertRegex(top, rf"\n    {command}\b", f"{command} listed in --help")
            out = self.ok(command, "--help")
            self.assertIn(f"usage: mqctl {command}", out)
        self.assertIn("Exit codes", top)
        self.assertIn(f"mqctl {mq_client.__version__}", self.ok("--version"))

    def test_usage_errors_exit_2(self):
        r = mqctl()
        self.assertEqual(r.returncode, 2)
        self.assertIn("required: COMMAND", r.stderr)
        r = mqctl("peek", "cli_q", "--limit", "0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("must be at least 1", r.stderr)
        r = mqctl("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid choice: 'frobnicate'", r.stderr)


class ListingTest(CliTest):
    def test_queues(self):
        self.client.create_queue("cli_dlq")
        self.client.create_queue("cli_q", max_receives=3, dead_letter_queue="cli_dlq")
        for i in range(3):
            self.client.send("cli_q", {"i": i})
        self.client.read("cli_q", 1)
        out = self.ok("queues")
        self.assertRegex(out.splitlines()[0], r"^QUEUE\s+DEPTH\s+VISIBLE\s+IN_FLIGHT\s+DELAYED")
        line = next(x for x in out.splitlines() if x.startswith("cli_q "))
        self.assertRegex(line, r"^cli_q\s+3\s+2\s+1\s+0\s+[\d.]+\s+cli_dlq\s+0\s+0\s+0\s+3\s+no")
        listing = {q["queue"]: q for q in json.loads(self.ok("queues", "--json"))}
        q = listing["cli_q"]
        self.assertEqual((q["depth"], q["visible"], q["in_flight"], q["delayed"]), (3, 2, 1, 0))
        self.assertEqual((q["dead_letter_queue"], q["max_receives"]), ("cli_dlq", 3))
        self.assertEqual(listing["cli_dlq"]["depth"], 0)

    def test_streams_and_groups(self):
        self.client.create_stream("cli_s", partitions=2)
        sql("SELECT mq.create_consumer_group('cli_s', 'cli_g', 'earliest')")
        for key in ("a", "b", "c"):
            self.client.append("cli_s", {"k": key}, key=key)
        streams = {s["stream"]: s for s in json.loads(self.ok("streams", "--json"))}
        self.assertEqual((streams["cli_s"]["partitions"], streams["cli_s"]["records_end"],
                          streams["cli_s"]["groups"]), (2, 3, 1))
        self.assertRegex(self.ok("streams"), r"\ncli_s\s+2\s+3\s+1\s")
        groups = json.loads(self.ok("groups", "cli_s", "--json"))
        self.assertEqual([(g["group"], g["partition"]) for g in groups],
                         [("cli_g", 0), ("cli_g", 1)])
        self.assertEqual(sum(g["lag"] for g in groups), 3)
        self.assertEqual(sum(g["end_position"] for g in groups), 3)
        ends = dict(sql("SELECT partition, end_position FROM mq.consumer_groups "
                        "WHERE stream = 'cli_s'"))
        self.assertRegex(self.ok("groups", "cli_s"),
                         rf"\ncli_s\s+cli_g\s+0\s+0\s+{ends[0]}\s+{ends[0]}\s*\n")

    def test_exchanges(self):
        self.client.create_queue("cli_q")
        self.client.create_exchange("cli_x", "topic")
        self.client.bind("cli_x", "cli_q", "orders.#")
        listing = [e for e in json.loads(self.ok("exchanges", "--json"))
                   if e["exchange"] == "cli_x"]
        self.assertEqual(listing, [{"exchange": "cli_x", "type": "topic",
                                    "alternate_exchange": None, "unroutable": 0,
                                    "destination": "cli_q", "destination_type": "queue",
                                    "binding_key": "orders.#", "arguments": {}}])
        self.assertRegex(self.ok("exchanges"), r"\ncli_x\s+topic\s+0\s+cli_q\s+queue\s+orders\.#")


class MessageTest(CliTest):
    def test_peek_leases_nothing(self):
        self.client.create_queue("cli_q")
        self.client.send("cli_q", {"n": 1}, priority=1)
        self.client.send("cli_q", b"\x00\x01", headers={"h": "v"})
        self.client.send("cli_q", {"n": 3}, delay=3600)
        peeked = json.loads(self.ok("peek", "cli_q", "--json"))
        self.assertEqual([(m["body"], m.get("payload_base64"), m["read_ct"]) for m in peeked],
                         [({"n": 1}, None, 0), (None, "AAE=", 0), ({"n": 3}, None, 0)],
                         "delivery order (priority first), bytes in base64")
        self.assertEqual(peeked[1]["headers"], {"h": "v"})
        self.assertEqual(sql("SELECT visible, in_flight, delayed FROM mq.metrics('cli_q')"),
                         [(2, 0, 1)], "peek leased nothing")
        self.client.read("cli_q", 1)
        out = self.ok("peek", "cli_q", "--limit", "2")
        self.assertRegex(out, r"\n\d+\s+in_flight\s+1\s+1\s+.*\{\"n\": 1\}")
        self.assertRegex(out, r"\n\d+\s+visible\s+0\s+0\s+.*\{\"h\": \"v\"\}\s+<2 bytes "
                         r"application/octet-stream>")
        self.assertNotIn("delayed", out, "--limit 2")
        self.assertIn("delayed", self.ok("peek", "cli_q"))
        # mq.peek(): a role without read on the queue is refused, with it
        # it peeks (no privilege on mq's tables needed)
        sql("DROP ROLE IF EXISTS cli_peeker")
        sql("CREATE ROLE cli_peeker LOGIN")
        try:
            r = mqctl("--dsn", "user=cli_peeker", "peek", "cli_q")
            self.assertEqual((r.returncode, r.stderr.splitlines()[0]),
                             (1, 'mqctl: ERROR 42501: permission denied for queue "cli_q"'))
            sql("SELECT mq.grant('cli_q', 'cli_peeker', 'read')")
            r = mqctl("--dsn", "user=cli_peeker", "peek", "cli_q", "--json")
            self.assertEqual((r.returncode, len(json.loads(r.stdout))), (0, 3))
        finally:
            sql("SELECT mq.revoke('cli_q', 'cli_peeker', 'read')")
            sql("DROP ROLE cli_peeker")
        r = mqctl("peek", "cli_nosuch")
        self.assertEqual((r.returncode, r.stderr.splitlines()[0]),
                         (1, 'mqctl: ERROR 42704: queue "cli_nosuch" does not exist'))

    def test_send_read_ack(self):
        self.client.create_queue("cli_q")
        first = int(self.ok("send", "cli_q", '{"price": 1.10, "a": [1, null]}', "--headers",
                            '{"trace": "t1"}', "--priority", "5", "--correlation-id", "c1",
                            "--reply-to", "replies"))
        second = json.loads(self.ok("send", "cli_q", "--text", "héllo", "--json"))["msg_id"]
        with tempfile.NamedTemporaryFile() as f:
            f.write(bytes(range(256)))
            f.flush()
            third = int(self.ok("send", "cli_q", "--file", f.name, "--content-type",
                                "image/png"))
        fourth = int(self.ok("send", "cli_q", "-", input='{"from": "stdin"}'))
        self.assertEqual(sql("SELECT body::text, priority, headers, correlation_id, reply_to "
                             "FROM mq.read('cli_q', 1)"),
                         [('{"a": [1, null], "price": 1.10}', 5, {"trace": "t1"}, "c1",
                           "replies")])
        got = json.loads(self.ok("read", "cli_q", "--count", "10", "--vt", "600", "--json"))
        self.assertEqual([m["msg_id"] for m in got], [second, third, fourth])
        self.assertEqual((got[0]["payload_base64"], got[0]["content_type"]),
                         ("aMOpbGxv", "text/plain; charset=utf-8"))
        self.assertEqual((got[1]["payload_base64"], got[1]["content_type"]),
                         ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEy"
                          "MzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2Rl"
                          "ZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeY"
                          "mZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrL"
                          "zM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+"
                          "/w==", "image/png"))
        self.assertEqual(got[2]["body"], {"from": "stdin"})
        self.assertIn("(no messages)", self.ok("read", "cli_q"))
        self.assertEqual(self.ok("ack", "cli_q", str(first), str(second), str(third)),
                         "acked 3\n")
        self.assertEqual(length("cli_q"), 1)
        r = mqctl("ack", "cli_q", str(first), str(fourth), "--json")
        self.assertEqual(r.returncode, 1, "one of them was acked already")
        self.assertEqual(json.loads(r.stdout), {"acked": [fourth], "missing": [first]})
        self.assertEqual(r.stderr, f'mqctl: no message {first} in queue "cli_q" '
                         '(acked already, or never sent)\n')
        self.assertEqual(length("cli_q"), 0)
        # read --ack, and the table of a read
        self.client.send("cli_q", {"n": 9})
        out = self.ok("read", "cli_q", "--ack", "--wait", "1")
        self.assertRegex(out, r"\n\d+\s+in_flight\s+1\s+0\s+.*\{\"n\": 9\}")
        self.assertEqual(length("cli_q"), 0, "read --ack acked it")

    def test_send_to_a_stream(self):
        self.client.create_stream("cli_s", partitions=4)
        out = self.ok("send", "cli_s", '{"r": 1}', "--key", "k1", "--headers", '{"h": 1}')
        part = sql("SELECT mq.stream_partition('k1', 4)")[0][0]
        self.assertEqual(out, f"{part} 0\n")
        self.assertEqual(sql("SELECT key, headers, body FROM mq.read_stream('cli_s', %s, 0)",
                             (part,)), [("k1", {"h": 1}, {"r": 1})])
        r = mqctl("send", "cli_s", "{}", "--priority", "1")
        self.assertEqual((r.returncode, r.stderr),
                         (2, 'mqctl: --priority is for queues; "cli_s" is a stream\n'))

    def test_errors_show_the_server_message(self):
        r = mqctl("send", "cli_nosuch", "{}")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, 'mqctl: ERROR 42704: queue "cli_nosuch" does not exist\n'
                         'HINT: Create it with mq.create_queue().\n')
        self.client.create_queue("cli_q", max_length=1, overflow="reject_publish")
        self.ok("send", "cli_q", "1")
        r = mqctl("send", "cli_q", "2")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r'^mqctl: ERROR 54000: queue "cli_q" is full')
        r = mqctl("send", "cli_q", "{}", "--text", "t")
        self.assertEqual((r.returncode, r.stderr),
                         (2, "mqctl: give one of BODY, --text and --file\n"))
        r = mqctl("send", "cli_q", "{not json")
        self.assertEqual(r.returncode, 2)
        self.assertIn("mqctl: BODY is not JSON", r.stderr)
        r = mqctl("--dsn", "host=/nonexistent-dir port=1", "queues")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^mqctl: connection is bad: No such file or directory")


def sigint_default():
    """In the child: Ctrl-C as in a terminal's foreground, even when the
    test command runs in the background (a non-interactive shell starts its
    background jobs with SIGINT ignored, and Python then keeps it so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class TailTest(CliTest):
    def wait_idle_after(self, pattern, state="idle"):
        """Until mqctl's session is idle with its last statement like pattern
        (or active in it)."""
        wait_for(lambda: sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                             "'mqctl' AND state = %s AND query LIKE %s",
                             (state, pattern))[0][0],
                 what=f"mqctl {state} in {pattern}")

    def test_tail_queue_woken_by_notify(self):
        import psycopg
        self.client.create_queue("cli_n", notify=True)
        self.client.send("cli_n", {"before": True})
        # a send that commits after a later one
        late = psycopg.connect()
        late.execute("SELECT mq.send('cli_n', '{\"late\": 1}')")
        # a look every hour: only the queue's notification can wake it
        proc = subprocess.Popen(MQCTL + ["tail", "cli_n", "--count", "3", "--json",
                                         "--interval", "3600"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV, stdin=subprocess.DEVNULL)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            self.wait_idle_after("SELECT * FROM mq.peek(%")
            self.client.send("cli_n", {"n": 1})
            wait_for(lambda: len(lines) == 1, what="the first arrival")
            late.commit()
            wait_for(lambda: len(lines) == 2, what="the late commit")
            self.client.send("cli_n", b"\xff", headers={"h": 2})
            proc.wait(timeout=60)
            reader.join(timeout=60)
        finally:
            proc.kill()
            late.close()
        self.assertEqual(proc.returncode, 0, proc.stderr.read())
        proc.stdout.close()
        proc.stderr.close()
        got = [json.loads(x) for x in lines]
        self.assertEqual([(m["body"], m.get("payload_base64"), m["headers"]) for m in got],
                         [({"n": 1}, None, None), ({"late": 1}, None, None),
                          (None, "/w==", {"h": 2})],
                         "the arrivals after the start, the late commit too")
        self.assertEqual(length("cli_n"), 4, "tail leaves them in the queue")

    def test_tail_consume_and_ctrl_c(self):
        self.client.create_queue("cli_q")
        for i in range(3):
            self.client.send("cli_q", {"i": i})
        out = self.ok("tail", "cli_q", "--consume", "--count", "3")
        self.assertEqual([x.split("\t")[1] for x in out.splitlines()],
                         ['{"i": 0}', '{"i": 1}', '{"i": 2}'])
        self.assertEqual(length("cli_q"), 0, "--consume acks")
        proc = subprocess.Popen(MQCTL + ["tail", "cli_q", "--from-beginning"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV, stdin=subprocess.DEVNULL, preexec_fn=sigint_default)
        try:
            self.wait_idle_after("SELECT * FROM mq.peek(%")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        self.assertEqual((proc.returncode, out, err), (0, "", ""), "Ctrl-C ends it cleanly")

    def test_tail_stream(self):
        self.client.create_stream("cli_s", partitions=2)
        self.client.append("cli_s", {"old": True})
        proc = subprocess.Popen(MQCTL + ["tail", "cli_s", "--count", "2", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV, stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: sql("SELECT count(*) FROM mq.consumer_groups WHERE stream = "
                                 "'cli_s' AND consumer_group LIKE 'mqctl_tail_%%'")[0][0] == 2,
                     what="tail's group")
            self.client.append("cli_s", {"new": 1}, key="k")
            self.client.append("cli_s", b"\x01\x02", key="k", correlation_id="c")
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        self.assertEqual(proc.returncode, 0, err)
        records = [json.loads(x) for x in out.splitlines()]
        self.assertEqual([(r["key"], r["body"], r.get("payload_base64"), r["correlation_id"])
                          for r in records],
                         [("k", {"new": 1}, None, None), ("k", None, "AQI=", "c")])
        self.assertEqual(sql("SELECT count(*) FROM mq.consumer_groups WHERE stream = 'cli_s'"),
                         [(0,)], "its group is dropped at the end")
        # Ctrl-C while it waits: exit 0, the group dropped too
        proc = subprocess.Popen(MQCTL + ["tail", "cli_s"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV,
                                stdin=subprocess.DEVNULL, preexec_fn=sigint_default)
        try:
            self.wait_idle_after("%mq.poll%", "active")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        self.assertEqual((proc.returncode, err), (0, ""))
        self.assertEqual(sql("SELECT count(*) FROM mq.consumer_groups WHERE stream = 'cli_s'"),
                         [(0,)])


class DestructiveTest(CliTest):
    def test_purge(self):
        self.client.create_queue("cli_q")
        self.client.send_batch("cli_q", [{"i": i} for i in range(5)])
        r = mqctl("purge", "cli_q")
        self.assertEqual((r.returncode, r.stderr), (2, 'mqctl: Delete all 5 messages of queue '
                         '"cli_q": refused without --yes (standard input is not a terminal)\n'))
        self.assertEqual(length("cli_q"), 5)
        code, out, term = under_pty(["purge", "cli_q"], answer="n")
        self.assertIn('Delete all 5 messages of queue "cli_q"? [y/N]', term)
        self.assertEqual((code, out), (1, ""))
        self.assertIn("mqctl: nothing done", term)
        self.assertEqual(length("cli_q"), 5)
        code, out, term = under_pty(["purge", "cli_q"], answer="y")
        self.assertEqual((code, out), (0, "purged 5\n"))
        self.assertEqual(length("cli_q"), 0)
        self.client.send("cli_q", {})
        self.assertEqual(json.loads(self.ok("purge", "cli_q", "--yes", "--json")),
                         {"purged": 1})
        self.assertEqual(length("cli_q"), 0)

    def dead_letters(self, n):
        self.client.create_queue("cli_dlq")
        self.client.create_queue("cli_q", max_receives=1, dead_letter_queue="cli_dlq")
        self.client.send_batch("cli_q", [{"i": i} for i in range(n)])
        sql("SELECT mq.set_vt('cli_q', msg_id, '0') FROM mq.read('cli_q', %s)", (n,))
        self.client.read("cli_q", n)  # past max_receives: dead-lettered
        self.assertEqual((length("cli_q"), length("cli_dlq")), (0, n))

    def test_redrive(self):
        self.dead_letters(7)
        r = mqctl("redrive", "cli_dlq")
        self.assertEqual((r.returncode, r.stderr),
                         (2, 'mqctl: Move 7 messages from "cli_dlq" to "cli_q": refused '
                          'without --yes (standard input is not a terminal)\n'))
        self.assertEqual(length("cli_dlq"), 7)
        self.assertEqual(self.ok("redrive", "cli_dlq", "--yes", "--max", "2"),
                         "moved 2 to cli_q\n")
        self.assertEqual((length("cli_q"), length("cli_dlq")), (2, 5))
        # in batches of 2 with a bar on the terminal
        code, out, term = under_pty(["redrive", "cli_dlq", "--batch", "2"], answer="y")
        self.assertEqual((code, out), (0, "moved 5 to cli_q\n"), term)
        self.assertIn('Move 5 messages from "cli_dlq" to "cli_q"? [y/N]', term)
        self.assertRegex(term, r"redrive: 100%.*5/5", "the progress bar")
        self.assertEqual((length("cli_q"), length("cli_dlq")), (7, 0))
        self.assertEqual(sql("SELECT count(*) FROM mq.read('cli_q', 10) "
                             "WHERE headers ? 'x-death'"), [(7,)])
        r = mqctl("redrive", "cli_q", "--yes")
        self.assertEqual((r.returncode, r.stderr), (2, 'mqctl: queue "cli_q" is the '
                         'dead-letter queue of 0 queues; name the target with --to\n'))
        self.assertEqual(json.loads(self.ok("redrive", "cli_dlq", "--to", "cli_q", "--yes",
                                            "--json")), {"moved": 0, "to": "cli_q"})

    def test_redrive_refused_by_the_server(self):
        self.dead_letters(1)
        r = mqctl("redrive", "cli_dlq", "--to", "cli_nosuch", "--yes")
        self.assertEqual(r.returncode, 1)
        self.assertIn('mqctl: ERROR 42704: queue "cli_nosuch" does not exist', r.stderr)
        self.assertEqual(length("cli_dlq"), 1)


EXACT = ("priority", "group_key", "dedup_key", "headers", "body", "payload_base64",
         "content_type", "content_encoding", "correlation_id", "reply_to", "sent_by")


class ExportImportTest(CliTest):
    def test_queue_round_trip(self):
        c = self.client
        c.create_queue("cli_src")
        c.create_queue("cli_dst")
        sql("""SELECT mq.send('cli_src', %s::jsonb, headers => '{"h": [1, 2.0]}', priority => 3,
                group_key => 'g1', dedup_key => 'd1', correlation_id => 'c1',
                reply_to => 'r1')""", ('{"price": 1.10, "big": 12345678901234567890, '
                                       '"s": "é\\n\\"", "nested": [null, true, {"x": 1e-7}]}',))
        c.send("cli_src", bytes(range(256)), content_type="image/png", content_encoding="gzip")
        c.send("cli_src", b"", ttl=3600)
        c.send("cli_src", "texte", delay=3600)
        c.send("cli_src", {"leased": 1})
        c.read("cli_src", 10, visibility_timeout=600)  # leases all but the delayed one
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "src.jsonl")
            self.ok("export", "cli_src", "--file", path)
            with open(path, encoding="utf-8") as f:
                exported = [json.loads(x) for x in f]
            # a bar on a terminal
            code, out, term = under_pty(["import", "cli_dst", "--file", path])
            self.assertEqual((code, out), (0, "imported 5\n"), term)
            self.assertRegex(term, r"import: 5msg")
        again = [json.loads(x) for x in self.ok("export", "cli_dst").splitlines()]
        self.assertEqual(len(exported), 5)
        self.assertEqual([{k: m.get(k) for k in EXACT} for m in again],
                         [{k: m.get(k) for k in EXACT} for m in exported],
                         "every property kept")
        self.assertIn('"price": 1.10', self.ok("export", "cli_dst").splitlines()[0],
                      "numbers as written")
        self.assertEqual(sql("SELECT body::text, payload FROM mq.q_%s ORDER BY msg_id" % (
            sql("SELECT queue_id FROM mq._queue WHERE queue_name = 'cli_dst'")[0][0])),
            sql("SELECT body::text, payload FROM mq.q_%s ORDER BY msg_id" % (
                sql("SELECT queue_id FROM mq._queue WHERE queue_name = 'cli_src'")[0][0])),
            "bodies and payloads byte for byte")
        self.assertEqual(again[1].get("payload_base64"), exported[1]["payload_base64"])
        self.assertEqual(sql("SELECT visible, in_flight, delayed FROM mq.metrics('cli_dst')"),
                         [(4, 0, 1)], "leases are not carried over; the delay is")
        for before, after in zip(exported, again):
            self.assertEqual(after["read_ct"], 0)
            if before["expires_at"]:
                self.assertLess(abs(_ts(after["expires_at"]) - _ts(before["expires_at"])), 60)
        self.assertLess(abs(_ts(again[3]["vt"]) - _ts(exported[3]["vt"])), 60,
                        "the rest of the delay")
        # standard input and output by default; a bad line stops with its number
        c.purge_queue("cli_dst")
        lines = self.ok("export", "cli_src")
        self.assertEqual(self.ok("import", "cli_dst", input=lines), "imported 5\n")
        c.purge_queue("cli_dst")
        r = mqctl("import", "cli_dst", input=lines.splitlines()[1] + "\n{oops\n")
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"^mqctl: line 2: .*\(imported 1 before it\)")
        self.assertEqual(length("cli_dst"), 1)
        r = mqctl("import", "cli_dst", input='{"payload_base64": "!!"}\n')
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 1", r.stderr)
        # the server refuses a batch: the message says how far it got
        c.purge_queue("cli_dst")
        c.alter_queue("cli_dst", max_length=3, overflow="reject_publish")
        r = mqctl("import", "cli_dst", "--batch", "2", input=lines)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^mqctl: the batch from line 3 failed \(imported 2 before "
                         r"it\): ERROR 54000: ")
        self.assertEqual(length("cli_dst"), 2, "the failed batch rolled back whole")

    def test_stream_round_trip(self):
        c = self.client
        c.create_stream("cli_s2", partitions=3)
        c.create_stream("cli_s3", partitions=3)
        for i in range(6):
            c.append("cli_s2", {"i": i, "f": 2.50}, key=f"k{i % 4}", headers={"n": i})
        c.append("cli_s2", bytes([0, 255]), key="k1", content_type="application/x-raw",
                 content_encoding="zstd", correlation_id="c", reply_to="r")
        exported = [json.loads(x) for x in self.ok("export", "cli_s2").splitlines()]
        self.assertEqual(len(exported), 7)
        self.assertEqual(self.ok("import", "cli_s3", input="\n".join(
            json.dumps(x) for x in exported) + "\n"), "imported 7\n")
        again = [json.loads(x) for x in self.ok("export", "cli_s3").splitlines()]
        keys = ("partition", "position", "key", "headers", "body", "payload_base64",
                "content_type", "content_encoding", "correlation_id", "reply_to", "sent_by")
        self.assertEqual([{k: r.get(k) for k in keys} for r in again],
                         [{k: r.get(k) for k in keys} for r in exported])


def _ts(text):
    import datetime
    return datetime.datetime.fromisoformat(text).timestamp()


class Sender(threading.Thread):
    """Until stopped, every 20 ms: sends to a queue, appends to a stream, and
    every other time acks a message (so that the rates are not 0)."""

    def __init__(self, queue, stream):
        super().__init__(daemon=True)
        self.queue, self.stream = queue, stream
        self.done = threading.Event()

    def run(self):
        import psycopg
        with psycopg.connect(autocommit=True) as conn:
            n = 0
            while not self.done.wait(0.02):
                conn.execute("SELECT mq.send(%s, '{}')", (self.queue,))
                conn.execute("SELECT mq.append(%s, '{}')", (self.stream,))
                n += 1
                if n % 2 == 0:
                    conn.execute("SELECT mq.ack(%s, msg_id) FROM mq.read(%s, 1)",
                                 (self.queue, self.queue))

    def stop(self):
        self.done.set()
        self.join()


class TopTest(CliTest):
    def setUp(self):
        super().setUp()
        self.client.create_queue("cli_dlq")
        self.client.create_queue("cli_q", max_receives=1, dead_letter_queue="cli_dlq")
        # 3 dead letters, 2 messages in flight, 1 delayed
        self.client.send_batch("cli_q", [{"dead": i} for i in range(3)])
        sql("SELECT mq.set_vt('cli_q', msg_id, '0') FROM mq.read('cli_q', 3)")
        self.client.read("cli_q", 3)
        self.client.send_batch("cli_q", [{"held": i} for i in range(2)])
        self.client.read("cli_q", 2, visibility_timeout=3600)
        self.client.send("cli_q", {"later": 1}, delay=3600)
        self.client.create_stream("cli_s")
        sql("SELECT mq.create_consumer_group('cli_s', 'cli_g', 'earliest')")
        self.client.append("cli_s", {})
        self.sender = Sender("cli_q", "cli_s")
        self.sender.start()

    def tearDown(self):
        self.sender.stop()
        super().tearDown()

    def row(self, screen, name):
        return next((x.split() for x in screen.splitlines() if x.startswith(name + " ")), None)

    def test_once(self):
        out = self.ok("top", "--once", "--interval", "1.5")
        self.assertRegex(out, r"QUEUE\*\s+SEND/s\s+ACK/s\s+DEPTH\s+INFLIGHT\s+DELAYED\s+"
                         r"OLDEST\s+DEAD")
        q = self.row(out, "cli_q")
        self.assertGreater(float(q[1]), 0, f"a send rate: {out}")
        self.assertEqual(q[4:6] + q[7:], ["2", "1", "3"], "in flight, delayed, dead")
        self.assertEqual(self.row(out, "cli_dlq")[1:4], ["0.0", "0.0", "3"])
        self.assertGreater(float(q[2]), 0, f"an ack rate: {out}")
        s = self.row(out, "cli_s")
        self.assertGreater(float(s[1]), 0, f"an append rate: {out}")
        self.assertRegex(out, r"\n\s+cli_g\s+0\.0\s+-\s+\d+\s+0\n")
        r = mqctl("top")
        self.assertEqual((r.returncode, r.stderr),
                         (2, "mqctl: top needs a terminal; use --once for text\n"))
        out = self.ok("top", "--once", "--sort", "depth", "--interval", "0.2")
        self.assertLess(out.index("\ncli_q "), out.index("\ncli_dlq "), "deepest first")
        self.assertIn("*DEPTH", out)

    @unittest.skipUnless(shutil.which("tmux"), "tmux is not installed")
    def test_live_screen_under_tmux(self):
        with tempfile.TemporaryDirectory() as d:
            tmux = ["tmux", "-S", os.path.join(d, "sock")]
            command = " ".join(["exec", "env"] + [f"{k}={shlex_quote(v)}" for k, v in ENV.items()
                                                  if k.startswith("PG") or k == "PYTHONPATH"]
                               + [shlex_quote(sys.executable), "-m", "mq_client.cli", "top"])
            subprocess.run(tmux + ["new-session", "-d", "-x", "100", "-y", "24", command],
                           check=True, env=ENV)
            try:
                screen = ""

                def live():
                    nonlocal screen
                    screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True,
                                            text=True).stdout
                    q = self.row(screen, "cli_q")
                    return q is not None and q[1] not in ("-", "0.0") and q[2] != "0.0"
                wait_for(live, what="top showing a send rate")
                self.assertIn("QUEUE*", screen)
                self.assertIsNotNone(self.row(screen, "cli_dlq"))
                self.assertRegex(screen, r"\ncli_s\s+[\d.]+\s+\d+\s+-\s+-\n\s+cli_g\s")
                if os.environ.get("MQ_TEST_SCREENSHOTS"):
                    os.makedirs(os.environ["MQ_TEST_SCREENSHOTS"], exist_ok=True)
                    with open(os.path.join(os.environ["MQ_TEST_SCREENSHOTS"], "mqctl-top.txt"),
                              "w", encoding="utf-8") as f:
                        f.write(screen)
                subprocess.run(tmux + ["send-keys", "s"], check=True)
                wait_for(lambda: "*SEND/s" in subprocess.run(
                    tmux + ["capture-pane", "-p"], capture_output=True, text=True).stdout,
                    what="s sorting by the next column")
                subprocess.run(tmux + ["send-keys", "q"], check=True)
                wait_for(lambda: subprocess.run(tmux + ["has-session"], capture_output=True)
                         .returncode != 0, what="q quitting")
            finally:
                subprocess.run(tmux + ["kill-server"], capture_output=True)


def shlex_quote(s):
    import shlex
    return shlex.quote(s)


class ConsoleTest(CliTest):
    def test_console_is_a_subcommand(self):
        self.assertIn("console", self.ok("--help"))
        self.assertIn("usage: mqctl console", self.ok("console", "--help"))


if __name__ == "__main__":
    unittest.main()
