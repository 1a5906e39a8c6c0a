#!/bin/sh
# usage: api-hostile.sh TERN
# A tern that starts empty (--api-socket, seccomp on, no event monitor, so
# the API thread makes the process's first JSON of a client's body) takes
# hostile clients: bodies cut short, an unknown endpoint, a wrong method,
# a body over the limit, clients that send half a request and go, several
# at once. After each round it still answers a ping, and at the end it
# is still running: a client cannot stop it, whatever its own thread's
# filter forbids.
tern=$1
dir=$(mktemp -d)
sock=$dir/api.sock
fail=0
"$tern" --api-socket "path=$sock" --serial off >"$dir/tern.out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
python3 - "$sock" <<'PY' || fail=1
import socket, sys, threading

path = sys.argv[1]

def request(raw, read=True):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(raw)
    if not read:
        s.close()
        return None
    data = b''
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return int(data.split(b' ', 2)[1]) if data else 0

def http(method, name, body=None):
    head = '%s /api/v1/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' % (method, name)
    if body is not None:
        head += 'Content-Type: application/json\r\nContent-Length: %d\r\n' % len(body)
    return request(head.encode() + b'\r\n' + (body or b''))

bad = []
for rnd in range(20):
    for want, args in ((400, ('PUT', 'vm.create', b'{"payload":')),
                       (404, ('GET', 'vm.nothing')),
                       (405, ('GET', 'vm.pause')),
                       (413, ('PUT', 'vm.create', b' ' * (70000 + 4096 * rnd))),
                       (400, ('PUT', 'vm.create', b'{"payload": {"kernel": 1}}'))):
        got = http(*args)
        if got != want:
            bad.append('round %d %s %s: %s, want %d' % (rnd, args[0], args[1], got, want))
    for _ in range(5):
        request(b'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"pay', read=False)
    got = [None] * 6
    def ping(k):
        try:
            got[k] = http('GET', 'vmm.ping')
        except OSError as e:
            got[k] = str(e)
    ts = [threading.Thread(target=ping, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if got != [200] * 6:
        bad.append('round %d: six pings at once: %s' % (rnd, got))
        break
for b in bad:
    print('FAIL', b)
print('ok   20 rounds of hostile clients' if not bad else '')
sys.exit(1 if bad else 0)
PY
if ! kill -0 $pid 2>/dev/null; then
	echo "FAIL tern is gone:"
	sed 's/^/  /' "$dir/tern.out"
	fail=1
fi
exit $fail
