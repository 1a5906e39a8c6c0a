#!/usr/bin/env python3
"""scripts/depgraph can fail: on a small tree with a module cycle and a
folder that includes one above it, --check exits 1 naming both; on the
same tree fixed it exits 0. argv[1] is the script."""

import os
import subprocess
import sys
import tempfile


def write(top, path, text):
    os.makedirs(os.path.dirname(os.path.join(top, path)), exist_ok=True)
    with open(os.path.join(top, path), "w", encoding="utf-8") as f:
        f.write(text)


def run(script, top):
    r = subprocess.run([sys.executable, script, "--top", top, "--check"],
                       capture_output=True, text=True, check=False)
    return r.returncode, r.stdout


def main():
    script = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as top:
        write(top, "core/a.h", '#include "core/b.h"\n')
        write(top, "core/b.c", '#include "core/a.h"\n')
        write(top, "core/b.h", "\n")
        write(top, "core/c.c", '#include "virtio/q.h"\n')
        write(top, "virtio/q.h", '#include "core/b.h"\n')
        rc, out = run(script, top)
        for want in ("cycle: core/a -> core/b -> core/a",
                     "layering: core/c.c includes virtio/q.h"):
            if want not in out:
                print("missing %r in:\n%s" % (want, out))
                failures += 1
        if rc != 1:
            print("exit %d on a broken tree, want 1" % rc)
            failures += 1
        write(top, "core/b.c", "\n")
        write(top, "core/c.c", '#include "core/a.h"\n')
        rc, out = run(script, top)
        if rc != 0:
            print("exit %d on a sound tree, want 0:\n%s" % (rc, out))
            failures += 1
    print("test_depgraph: %s" % ("ok" if not failures else
                                 "%d failure(s)" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
