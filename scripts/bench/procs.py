"""Every process the bench starts, so that none outlives it.

Each child is the leader of its own session and process group
(start_new_session): a terminal's Ctrl-C reaches only the bench, which then
kills each group whole -- the program and whatever it started (xway-run execs
the program; iperf3 and sockperf start no daemons).  Signals that end the bench
(INT, TERM, HUP) become exceptions, so the callers' `finally` cleans up.
"""
import os
import signal
import subprocess
import time


class Interrupted(Exception):
    """SIGTERM or SIGHUP; SIGINT stays KeyboardInterrupt."""


def _raise(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def trap_signals():
    # Even when started with SIGINT ignored (a background job of a script):
    # whoever sends it wants the bench to stop, cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGHUP, _raise)


def ignore_signals():
    """While cleaning up: a second Ctrl-C must not leave things half-removed."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)


class Procs:
    """The live children, by pid."""

    def __init__(self):
        self.live = {}

    def start(self, argv, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                             stderr=stderr, start_new_session=True)
        self.live[p.pid] = p
        return p

    def run(self, argv, env=None, timeout=60):
        """Run to completion: (exit code or None on timeout, stdout, stderr)."""
        p = self.start(argv, env, subprocess.PIPE, subprocess.PIPE)
        # An exception (Ctrl-C) leaves p in self.live for stop_all.
        try:
            out, err = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            self._kill_group(p, signal.SIGKILL)
            out, err = p.communicate()
            rc = None
        self._kill_group(p, signal.SIGKILL)  # anything it left behind
        self._forget(p)
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    def wait(self, p, timeout):
        """The exit code of p within timeout seconds, else None (p killed)."""
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p, grace=0)
            rc = None
        self._kill_group(p, signal.SIGKILL)  # anything it left behind
        self._forget(p)
        return rc

    def stop(self, p, grace=2.0):
        """TERM the group, then KILL it after grace seconds."""
        self._kill_group(p, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        deadline = time.monotonic() + grace
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        self._kill_group(p, signal.SIGKILL)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._forget(p)

    def stop_all(self):
        for p in list(self.live.values()):
            self._kill_group(p, signal.SIGTERM)
        deadline = time.monotonic() + 2
        for p in list(self.live.values()):
            while p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
        for p in list(self.live.values()):
            self.stop(p, grace=0)

    def _forget(self, p):
        self.live.pop(p.pid, None)

    @staticmethod
    def _kill_group(p, sig):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
