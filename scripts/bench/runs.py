"""One measurement each: an xwperf client against a long-running server of its
transport, or a real program (iperf3, sockperf) as a fresh server + client pair,
natively over the kernel's loopback or both under xway-run on the bench's hub.

Every function returns a sample: a dict with `ok` (the run finished, its data
checked out, and it took the path it was meant to), `error` when not, the
metrics, and what the tool said about itself (`raw`).

Addresses: 127.0.0.1 and AF_UNIX for the kernel; 10.77.NET.x only on the hub,
an AF_UNIX directory -- nothing leaves the machine.
"""
import json
import os
import re
import socket
import time

# Transport -> how the bench names it in tables and plots.
TRANSPORTS = {
    "ring": "xway ring (co-resident)",
    "tcp": "xway TCP path (hub)",
    "kernel": "kernel TCP 127.0.0.1",
    "unix": "kernel AF_UNIX",
}
XWAY_PORT = 5301
SERVER_HOST = 1   # 10.77.NET.1: the xwperf server on the hub
APP_SERVER = 201  # 10.77.NET.201/.202: the real programs' pair
SOCKPERF_PP_MPS = 3000000
SOCKPERF_PP_SIZE = 64
SOCKPERF_TP_SIZE = 65000  # sockperf's largest message is under 64 KiB
IPERF3_LEN = 131072       # iperf3's default write size for TCP
PREFORK_CLIENTS = 16      # the pre-fork server's client connections (2 workers)
EVLOOP_CLIENTS = (1, 16, 64)  # the event-loop server's client connections
MEMCACHED_THREADS = 2      # memcaslap's threads
MEMCACHED_CLIENTS = 16     # ... and connections (memcached itself: its default 4 threads)
SENDFILE_SIZE = 1 << 20    # the static file nginx sends (sendfile on)


def free_port():
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_connect(host, port):
    """A server that logs nothing when it is ready: its port takes connections."""
    def ready():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    return ready


def wait_for(paths, pattern, proc, timeout=10.0):
    """Until one of the files matches pattern (or the callable pattern says
    so): True; False when proc died or time ran out."""
    rx = None if callable(pattern) else re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rx is None and pattern():
            return True
        for path in paths if rx else ():
            try:
                with open(path, errors="replace") as f:
                    if rx.search(f.read()):
                        return True
            except FileNotFoundError:
                pass
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def tail(text, n=6):
    """The last n lines of text, on one line."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:])


def tail_file(path, n=6):
    try:
        with open(path, errors="replace") as f:
            return tail(f.read(), n)
    except OSError:
        return ""


class Bench:
    """The bench's shared state: build, hub, sim host, servers."""

    def __init__(self, procs, build, work, simhost, net):
        self.procs = procs
        self.xwperf = os.path.join(build, "apps/xwperf/xwperf")
        self.xway_run = os.path.join(build, "shim/xway-run")
        self.build = build
        self.work = work
        self.hub = os.path.join(work, "hub")
        self.simhost = simhost
        self.net = net
        self.unix_path = os.path.join(work, "xwperf.sock")
        self.kport = None
        self.servers = {}   # "xway" / "kernel" / "unix" -> Popen
        self.server_logs = {}  # the same -> its current log (one per start)
        self.serial = 0  # numbers the processes started: addresses, log names
        os.makedirs(self.hub, exist_ok=True)

    def addr(self, host):
        return f"10.77.{self.net}.{host}"

    def hub_env(self, host, **extra):
        env = self.kernel_env()
        env.update(XWAY_LINK=f"hub:{self.hub}", XWAY_HOST=self.simhost,
                   XWAY_ADDR=f"{self.addr(host)}/24", **extra)
        return env

    def kernel_env(self):
        env = dict(os.environ)
        for k in [k for k in env if k.startswith("XWAY_") or k == "LD_PRELOAD"]:
            del env[k]
        return env

    # --- xwperf ---------------------------------------------------------------

    def server_for(self, transport):
        return {"ring": "xway", "tcp": "xway"}.get(transport, transport)

    def ensure_server(self, name):
        """Start (or restart, if it died) the xwperf server of a transport."""
        p = self.servers.get(name)
        if p is not None and p.poll() is None:
            return
        if p is not None:
            self.procs.wait(p, 0)
        self.serial += 1
        log = self.server_logs[name] = os.path.join(self.work, f"srv-{name}-{self.serial}.log")
        if name == "xway":
            # The ring and the TCP path share it: a client with XWAY_BACKEND=off
            # sends no "xway capable" option, so its connections stay TCP.
            argv, env = [self.xwperf, "-s", "-p", str(XWAY_PORT)], self.hub_env(SERVER_HOST)
        elif name == "kernel":
            self.kport = free_port()
            argv = [self.xwperf, "-s", "--kernel", "-B", "127.0.0.1", "-p", str(self.kport)]
            env = self.kernel_env()
        else:
            argv, env = [self.xwperf, "-s", "--unix", self.unix_path], self.kernel_env()
        with open(log, "wb") as f:
            p = self.procs.start(argv, env, stdout=f, stderr=f)
        self.servers[name] = p
        if not wait_for([log], "listening", p):
            raise RuntimeError(f"xwperf server ({name}) did not start: {tail_file(log)}")

    def xwperf_client(self, transport, mode, msglen, conns, seconds, zc=False):
        try:
            self.ensure_server(self.server_for(transport))
        except RuntimeError as e:
            return {"tool": "xwperf", "transport": transport, "ok": False, "error": str(e)}
        test = ["-t", f"{seconds:g}", "-l", str(msglen), "-P", str(conns), "--json",
                "--timeout", f"{seconds + 30:g}"] + (["--rr"] if mode == "rr" else [])
        test += ["--zc"] if zc else []
        if transport in ("ring", "tcp"):
            # A new address for each client process: no 4-tuple is ever reused.
            self.serial += 1
            host = 10 + self.serial % 180
            extra = {"XWAY_BACKEND": "off"} if transport == "tcp" else {}
            env = self.hub_env(host, **extra)
            argv = [self.xwperf, "-c", self.addr(SERVER_HOST), "-p", str(XWAY_PORT)] + test
        elif transport == "kernel":
            env = self.kernel_env()
            argv = [self.xwperf, "--kernel", "-c", "127.0.0.1", "-p", str(self.kport)] + test
        else:
            env = self.kernel_env()
            argv = [self.xwperf, "--unix", self.unix_path] + test
        log = self.server_logs[self.server_for(transport)]
        mark = os.path.getsize(log)
        rc, out, err = self.procs.run(argv, env, timeout=seconds + 45)
        s = xwperf_sample(transport, rc, out, err, zc)
        if not s["ok"]:
            with open(log, errors="replace") as f:
                f.seek(mark)
                said = f.read().strip()
            if said:
                s["error"] += f"; server: {tail(said, 3)}"
            self.restart_server(self.server_for(transport))
        return s

    def restart_server(self, name):
        """After a failed run: whatever state it left does not carry over."""
        p = self.servers.pop(name, None)
        if p is not None:
            self.procs.stop(p)

    # --- real programs --------------------------------------------------------

    def app_pair(self, tag, xway, server_argv, client_argv, ready, seconds, one_shot,
                 grace=1.0):
        """Start the server, wait for `ready` in its output, run the client.
        Returns (client rc, stdout, stderr, server log paths, error or None)."""
        n = self.serial = self.serial + 1
        slog_out = os.path.join(self.work, f"{tag}-{n}-srv.out")
        slog_err = os.path.join(self.work, f"{tag}-{n}-srv.err")
        if xway:
            prefix = [self.xway_run, "--log", "info"]
            senv = self.hub_env(APP_SERVER)
            cenv = self.hub_env(APP_SERVER + 1)
        else:
            prefix, senv, cenv = [], self.kernel_env(), self.kernel_env()
        with open(slog_out, "wb") as fo, open(slog_err, "wb") as fe:
            srv = self.procs.start(prefix + server_argv, senv, stdout=fo, stderr=fe)
        logs = (slog_out, slog_err)
        try:
            if not wait_for(logs, ready, srv):
                return (None, "", "", logs,
                        f"server did not start: {tail_file(slog_out)} {tail_file(slog_err)}")
            time.sleep(0.1)
            rc, out, err = self.procs.run(prefix + client_argv, cenv, timeout=seconds + 30)
            if rc is None:
                return rc, out, err, logs, f"client hung: killed after {seconds + 30} s"
            if one_shot:
                src = self.procs.wait(srv, 10)
                if rc == 0 and src != 0:
                    what = "did not exit (killed)" if src is None else f"exit status {src}"
                    return rc, out, err, logs, f"server {what}: {tail_file(slog_err)}"
            return rc, out, err, logs, None
        finally:
            if srv.pid in self.procs.live:
                self.procs.stop(srv, grace=grace)

    def iperf3(self, xway, seconds):
        port = free_port()
        host = self.addr(APP_SERVER) if xway else "127.0.0.1"
        rc, out, err, logs, error = self.app_pair(
            "iperf3", xway,
            ["iperf3", "-s", "-1", "--forceflush", "-B", host, "-p", str(port)],
            ["iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J"],
            r"Server listening|listening on port", seconds, one_shot=True)
        s = base_sample("iperf3", "bulk", xway, IPERF3_LEN)
        if error is None:
            error = parse_iperf3(rc, out, s)
        return finish_app(s, error, xway, err, logs)

    def prefork(self, xway, seconds):
        """A pre-fork echo server (tests/fork/prefork: the parent listens, 2
        workers accept and serve; under xway-run each serves its ring
        connections itself) and 16 client connections of 64-byte
        request/response, every reply compared."""
        port = free_port()
        host = self.addr(APP_SERVER) if xway else "127.0.0.1"
        prog = os.path.join(self.build, "tests", "fork", "prefork")
        rc, out, err, logs, error = self.app_pair(
            "prefork", xway, [prog, "block", host, str(port), "2", "1000000000"],
            [prog, "rr-client", host, str(port), str(PREFORK_CLIENTS), str(seconds)],
            r"listening with", seconds, one_shot=False, grace=0.5)
        s = base_sample("prefork", "rr", xway, 64)
        s["conns"] = PREFORK_CLIENTS
        if error is None:
            m = re.search(r"rr-client: (\d+) requests/s, verified", out)
            s["verified"] = m is not None
            if rc != 0 or not m:
                error = f"exit {rc}: {tail(out)} {tail(err)}"
            else:
                s["transactions_per_s"] = float(m.group(1))
        return finish_app(s, error, xway, err, logs)

    def evloop(self, xway, conns, seconds):
        """xwperf's event-loop server (-s --epoll: one thread, epoll) on the
        kernel's sockets, natively or under xway-run (the shim's epoll over
        ring sockets), and conns client connections of 64-byte
        request/response (xwperf --rr, every byte verified)."""
        port = free_port()
        host = self.addr(APP_SERVER) if xway else "127.0.0.1"
        x = self.xwperf
        rc, out, err, logs, error = self.app_pair(
            "evloop", xway, [x, "-s", "--epoll", "--kernel", "-B", host, "-p", str(port), "-1"],
            [x, "--kernel", "-c", host, "-p", str(port), "--rr", "-l", "64", "-P", str(conns),
             "-t", str(seconds), "--json"],
            r"listening on port", seconds, one_shot=True)
        s = base_sample("evloop", "rr", xway, 64)
        s["conns"] = conns
        if error is None:
            j = next((json.loads(l) for l in out.splitlines() if l.startswith("{")), None)
            s["verified"] = bool(j and j.get("verified"))
            if rc != 0 or not j:
                error = f"exit {rc}: {tail(out)} {tail(err)}"
            else:
                s["transactions_per_s"] = j.get("transactions_per_s")
        return finish_app(s, error, xway, err, logs)

    def memcached(self, xway, seconds):
        """memcached (its default 4 worker threads, libevent over epoll; 1 GiB
        of cache, so that nothing set during the run is evicted) and
        libmemcached-tools' memcaslap (90% get, 10% set; a tenth of the gets
        verified against what was set, and no get may miss)."""
        port = free_port()
        host = self.addr(APP_SERVER) if xway else "127.0.0.1"
        # (as root, -u nobody: the process gives root up, its stack goes on in a keeper)
        ready = r"listening (on port|through)" if xway else can_connect(host, port)
        rc, out, err, logs, error = self.app_pair(
            "memcached", xway, ["memcached", "-u", "nobody", "-m", "1024", "-l", host, "-p", str(port)],
            ["memcaslap", "-s", f"{host}:{port}", "-T", str(MEMCACHED_THREADS),
             "-c", str(MEMCACHED_CLIENTS), "-t", f"{seconds}s", "--verify=0.1"],
            ready, seconds, one_shot=False, grace=0.5)
        s = base_sample("memcached", "rr", xway, 0)
        s["conns"] = MEMCACHED_CLIENTS
        if error is None:
            m = re.search(r"Ops: (\d+) TPS: (\d+)", out)
            bad = re.findall(r"(verify_misses|verify_failed|get_misses): (\d+)", out)
            s["verified"] = bool(m and bad and all(v == "0" for _, v in bad))
            if rc != 0 or not m or int(m.group(1)) == 0:
                error = f"exit {rc}: {tail(out)} {tail(err)}"
            elif not s["verified"]:
                error = f"memcaslap found wrong or missing values: {bad}"
            else:
                s["transactions_per_s"] = float(m.group(2))
        return finish_app(s, error, xway, err, logs)

    def sendfile(self, xway, seconds):
        """nginx as one event-loop process (master_process off; epoll,
        sendfile on) serving a 1 MiB file to ApacheBench on one keep-alive
        connection (ab -k; it checks every response's length)."""
        port = free_port()
        host = self.addr(APP_SERVER) if xway else "127.0.0.1"
        n = self.serial + 1
        root = os.path.join(self.work, f"nginx-{n}")
        os.makedirs(os.path.join(root, "www"), exist_ok=True)
        os.makedirs(os.path.join(root, "logs"), exist_ok=True)
        for d in (self.work, root, os.path.join(root, "www")):
            os.chmod(d, 0o755)
        with open(os.path.join(root, "www", "file.bin"), "wb") as f:
            f.write(os.urandom(SENDFILE_SIZE))
        os.chmod(os.path.join(root, "www", "file.bin"), 0o644)
        conf = os.path.join(root, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"daemon off; master_process off; worker_processes 1; pid {root}/nginx.pid;\n"
                    "error_log stderr warn;\n"
                    "events { worker_connections 64; }\n"
                    "http { access_log off; sendfile on;\n"
                    f"  server {{ listen {host}:{port}; root {root}/www; }} }}\n")
        ready = r"listening on port" if xway else can_connect(host, port)
        count = max(200, 400 * seconds)
        rc, out, err, logs, error = self.app_pair(
            "sendfile", xway, ["nginx", "-c", conf, "-p", root, "-e", "stderr"],
            ["ab", "-q", "-k", "-n", str(count), "-c", "1", f"http://{host}:{port}/file.bin"],
            ready, seconds, one_shot=False, grace=0.5)
        s = base_sample("sendfile", "bulk", xway, SENDFILE_SIZE)
        if error is None:
            m = re.search(r"Requests per second:\s+([\d.]+)", out)
            done = re.search(r"Complete requests:\s+(\d+)", out)
            failed = re.search(r"Failed requests:\s+(\d+)", out)
            s["verified"] = bool(done and failed and int(done.group(1)) == count
                                 and failed.group(1) == "0")
            if rc != 0 or not m or not s["verified"]:
                error = f"exit {rc}: {tail(out)} {tail(err)}"
            else:
                s["transactions_per_s"] = float(m.group(1))
                s["gbytes_per_s"] = float(m.group(1)) * SENDFILE_SIZE / 1e9
        return finish_app(s, error, xway, err, logs)

    def sockperf(self, xway, test, msglen, seconds):
        port = free_port()
        host = self.addr(APP_SERVER) if xway else "127.0.0.1"
        client = ["sockperf", test, "--tcp", "-i", host, "-p", str(port), "-t", str(seconds),
                  "-m", str(msglen)]
        if test == "pp":
            # sockperf sizes its table of send times by the expected message
            # rate (default about 600K/s); a faster round trip (the ring's) runs
            # past its end ("_seqN > m_maxSequenceNo").  3M/s: room for 0.33 us.
            client += ["--full-rtt", "--data-integrity", f"--mps={SOCKPERF_PP_MPS}"]
        rc, out, err, logs, error = self.app_pair(
            "sockperf", xway, ["sockperf", "sr", "--tcp", "-i", host, "-p", str(port)], client,
            r"to block on socket|listening on port", seconds, one_shot=False,
            grace=0.2)  # sockperf's server, blocked in recvfrom, ignores SIGTERM
        s = base_sample("sockperf", "rr" if test == "pp" else "bulk", xway, msglen)
        if error is None:
            error = parse_sockperf(test, rc, out, s)
        return finish_app(s, error, xway, err, logs)


def xwperf_sample(transport, rc, out, err, zc=False):
    s = {"tool": "xwperf", "transport": transport, "ok": False, "error": None}
    if rc is None:
        s["error"] = "hung: killed after its time + 45 s"
        return s
    line = next((l for l in out.splitlines() if l.startswith("{")), None)
    try:
        j = json.loads(line) if line else None
    except ValueError:
        j = None
    if j is None:
        s["error"] = f"exit {rc}, no result: {tail(err)}"
        return s
    s["raw"] = j
    s.update(gbytes_per_s=j["gbytes_per_s"], rtt_us_p50=j["rtt_us_p50"],
             rtt_us_p99=j["rtt_us_p99"], path=j["path"], fallback=j["fallback"],
             verified=j["verified"])
    want = {"ring": "ring", "tcp": "tcp", "kernel": "kernel", "unix": "unix"}[transport]
    if rc != 0 or not j["verified"]:
        s["error"] = f"NOT VERIFIED (exit {rc}): {tail(err)}"
    elif j["path"] != want:
        s["error"] = f"took path {j['path']} (fallback {j['fallback']}), not {want}"
    elif zc and j.get("zc") is not True:
        s["error"] = "not zero-copy (\"zc\" not true)"
    else:
        s["ok"] = True
    return s


def base_sample(tool, mode, xway, msglen):
    return {"tool": tool, "transport": "xway-run" if xway else "native", "mode": mode,
            "msglen": msglen, "conns": 1, "ok": False, "error": None}


def finish_app(s, error, xway, client_err, logs):
    """Under xway-run both ends must have logged a ring connection."""
    if error is None and xway:
        with open(logs[1], errors="replace") as f:
            srv_ring = "ring path" in f.read()
        if not (srv_ring and re.search(r"fd \d+: ring path", client_err)):
            error = "no ring path logged (server %s, client %s)" % (
                srv_ring, "ring path" in client_err)
        s["path"] = "ring" if error is None else "?"
    elif not xway:
        s["path"] = "kernel"
    s["error"] = error
    s["ok"] = error is None
    return s


def parse_iperf3(rc, out, s):
    """iperf3 has no payload check: the bytes the server received against the
    bytes the client sent, both ends' exit status, no error."""
    try:
        j = json.loads(out)
    except ValueError:
        return f"exit {rc}, no JSON: {tail(out)}"
    if "error" in j:
        return f"iperf3: {j['error']}"
    end = j.get("end", {})
    sent, recv = end.get("sum_sent", {}), end.get("sum_received", {})
    s["raw"] = {"sum_sent": sent, "sum_received": recv}
    s["gbytes_per_s"] = recv.get("bits_per_second", 0) / 8e9
    s["verified"] = rc == 0 and 0 < recv.get("bytes", 0) <= sent.get("bytes", 0)
    if rc != 0:
        return f"exit {rc}"
    # The client's count ends when its timer fires; the server's when the
    # stream's last byte is read: they differ by what was in flight.
    if not s["verified"]:
        return f"received {recv.get('bytes')} of {sent.get('bytes')} bytes"
    return None


SOCKPERF_NUM = r"([0-9]+(?:\.[0-9]+)?)"


def parse_sockperf(test, rc, out, s):
    """pp: --data-integrity checks each reply and the summary counts drops,
    duplicates and reordering; tp: the sender's rate only (sockperf's
    throughput mode has no receiver report)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", out)
    s["raw"] = {"tail": tail(text, 14)}
    if rc != 0:
        m = re.search(r"ERROR: (.*)", text)
        return f"exit {rc}: {m.group(1) if m else tail(text, 3)}"
    if test == "pp":
        p50 = re.search(r"percentile 50\.000 =\s*" + SOCKPERF_NUM, text)
        p99 = re.search(r"percentile 99\.000 =\s*" + SOCKPERF_NUM, text)
        counts = re.search(r"# dropped messages = (\d+); # duplicated messages = (\d+); "
                           r"# out-of-order messages = (\d+)", text)
        got = re.search(r"\[Valid Duration\].*ReceivedMessages=(\d+)", text)
        if not (p50 and p99 and counts and got):
            return f"unexpected output: {tail(text, 3)}"
        s["rtt_us_p50"], s["rtt_us_p99"] = float(p50.group(1)), float(p99.group(1))
        s["messages"] = int(got.group(1))
        s["verified"] = all(int(c) == 0 for c in counts.groups()) and s["messages"] > 0
        return None if s["verified"] else f"sockperf counted {counts.group(0)}"
    bw = re.search(r"BandWidth is " + SOCKPERF_NUM + " MBps", text)
    if not bw:
        return f"unexpected output: {tail(text, 3)}"
    s["gbytes_per_s"] = float(bw.group(1)) * 2**20 / 1e9  # sockperf's MB is MiB
    s["verified"] = None  # nothing to check against
    return None
