"""A backend process that lives around one VM run (a vhost-user backend: tern-blk, qemu-storage-daemon): started
before the VMM, waited for until its socket listens, stopped after the VMM exited; its CPU time is sampled with
the VMM's."""

import os
import signal
import subprocess
import time

from .kvm import CLK_TCK, proc_ticks
from .util import now_iso, read_text


def unix_listening(path, proc_net_unix="/proc/net/unix"):
    """Whether a UNIX socket bound to PATH listens (its Flags in /proc/net/unix have __SO_ACCEPTCON, 0x10000)."""
    try:
        with open(proc_net_unix) as f:
            next(f, None)
            for line in f:
                w = line.split()
                if len(w) >= 8 and w[7] == path and int(w[3], 16) & 0x10000:
                    return True
    except (OSError, ValueError):
        pass
    return False


def backend_start(b, rdir, wait_s=10):
    """Starts the vhost-user backend B ({name, argv, socket}; its output to RDIR.backend.log) and waits until its
    socket listens: (process, None) or (None, error)."""
    log_path = rdir + ".backend.log"
    try:
        os.unlink(b["socket"])
    except FileNotFoundError:
        pass
    try:
        with open(log_path, "wb") as out:
            p = subprocess.Popen(b["argv"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 close_fds=True)
    except OSError as e:
        return None, "backend %s: cannot start: %s" % (b["name"], e)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if unix_listening(b["socket"]):
            return p, None
        if p.poll() is not None:
            break
        time.sleep(0.05)
    if p.poll() is None:
        p.kill()
    p.wait()
    tail = (read_text(log_path) or "").splitlines()[-1:]
    return None, "backend %s: %s%s" % (b["name"], "exited %d before listening" % p.returncode if p.returncode and
                                       p.returncode > 0 else "not listening on %s after %d s" % (b["socket"], wait_s),
                                       ": " + tail[0] if tail else "")


def backend_stop(p, timeout=10):
    """Stops a backend once its VMM is gone (SIGTERM, SIGKILL after TIMEOUT s): {"cpu_s" (its whole life),
    "exit_status", "killed"}."""
    res = {}
    try:
        res["cpu_s"] = proc_ticks(p.pid) / CLK_TCK
    except (OSError, ValueError, IndexError):
        pass
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            res["killed"] = True
    res["exit_status"] = p.returncode
    return res


def with_backend(sysd, rdir, run):
    """RUN(cpu_pids) between starting SYSD's vhost-user backend, if it has one, and stopping it. The backend's CPU
    time is sampled with the VMM's (cpu_pids); its record goes to the run's raw.backend; a backend that does not
    come up fails the run, one that does not stop on SIGTERM is a warning."""
    b = sysd.get("backend")
    if not b:
        return run([])
    p, err = backend_start(b, rdir)
    if p is None:
        return {"started": now_iso(), "ok": False, "errors": [err], "figures": {},
                "raw": {"backend": {"log": rdir + ".backend.log"}}}
    try:
        rec = run([p.pid])
    finally:
        res = backend_stop(p)
    res.update(name=b["name"], pid=p.pid, log=rdir + ".backend.log")
    rec.setdefault("raw", {})["backend"] = res
    if res.get("killed") or res.get("exit_status") not in (0, -signal.SIGTERM):
        rec.setdefault("warnings", []).append("backend %s %s on SIGTERM" % (
            b["name"], "had to be killed" if res.get("killed") else "exited %s" % res.get("exit_status")))
    return rec
