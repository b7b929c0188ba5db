"""The compat scenario's state, shared by the Python client programs (see compat/run.ts)."""
import json
import os
import sys
import threading
import time

ENV = os.environ
TOKEN = ENV["COMPAT_TOKEN"]
HUB_URL = ENV["COMPAT_HUB_URL"]
TYPE = ENV["COMPAT_TYPE"]
GROUP = ENV["COMPAT_GROUP"]
FOREIGN_TENANT = ENV["COMPAT_FOREIGN_TENANT"]
IDS = {"replay": ENV["COMPAT_REPLAY_ID"], "global": ENV["COMPAT_GLOBAL_ID"], "user": ENV["COMPAT_USER_ID"], "group": ENV["COMPAT_GROUP_ID"]}


class Scenario:
    def __init__(self):
        self.result = {}
        self.received = {}  # notification id -> delivered notification
        self.read_events = []
        self.lock = threading.Condition()

    def on_notification(self, args):
        with self.lock:
            for notification in args:
                self.received[notification["id"]] = notification
            self.lock.notify_all()

    def on_read(self, args):
        with self.lock:
            self.read_events.extend(args)
            self.lock.notify_all()

    def wait(self, predicate, seconds):
        deadline = time.monotonic() + seconds
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return True

    def check(self, name, ok, why="not seen"):
        self.result[name] = True if ok else why

    def wait_ids(self, names, seconds=10):
        self.wait(lambda: all(IDS[n] in self.received for n in names), seconds)
        for n in names:
            self.check(n, IDS[n] in self.received)

    def ready(self):
        print("READY", flush=True)

    def finish(self):
        print("RESULT " + json.dumps(self.result), flush=True)
        sys.stdout.flush()
