"""Paths and small helpers the rest of tern-bench shares: where the repository is, logging, a command's output,
JSON files written whole, a few /proc and file readers, timestamps."""

import datetime
import hashlib
import json
import os
import signal
import subprocess

BENCH = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # bench/
TOP = os.path.dirname(BENCH)  # the repository
COMMAND = os.path.join(BENCH, "tern-bench")  # the command; the driver inside the test host is started through it
PYTHON = "/usr/bin/python3"  # Debian's; inside L1 the host's root is visible at the same paths


def log(msg):
    print("tern-bench: " + msg, flush=True)


def capture(argv, **kw):
    """(stdout stripped, None) or (None, error text)."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    except OSError as e:
        return None, str(e)
    if p.returncode:
        return None, (p.stderr.strip() or "exit %d" % p.returncode)
    return p.stdout.strip(), None


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def bzimage_version(path):
    """The version string in a bzImage's setup header (kernel_version at 0x20e, relative to 0x200)."""
    try:
        with open(path, "rb") as f:
            data = f.read(0x8000)
        if data[0x202:0x206] != b"HdrS":
            return None
        off = int.from_bytes(data[0x20E:0x210], "little") + 0x200
        return data[off:data.index(b"\0", off)].decode(errors="replace")
    except (OSError, ValueError):
        return None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def other_test_hosts():
    """Command lines of QEMU TCG processes on this machine (someone's test host) other than ours."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and b"tcg,thread=multi" in argv:
            found.append(int(pid))
    return found


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def read_through(paths):
    """Reads each file once (errors ignored), so that the page cache holds it before the first run."""
    for path in paths:
        try:
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass
        except OSError:
            pass


def fs_type(path):
    p = subprocess.run(["stat", "-f", "-c", "%T", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() or None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def now_iso():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def signal_name(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return "?"
