#!/usr/bin/python3
"""tern-switch end to end, natively (no KVM): sw-peer processes, whose ports
are DPDK net_virtio_user devices, stand in for VMs on tern-switch's
vhost-user ports; the control API (HTTP/JSON on a UNIX socket) is read
and driven as an operator would.

usage: e2e.py TERN_SWITCH SW_PEER

Checks, one "PASS name" / "FAIL name (why)" line each:
  ports-up            every port's peer connected (API: up)
  flood-unknown       a frame to an unknown address reaches every other
                      port of its VLAN, and the source is learned
  unicast-learned     a reply goes to the learned port only
  flood-broadcast     a broadcast reaches every other port
  client-mode         a port in client mode (the peer listens) forwards
  vlan-isolation      a port added at run time in VLAN 10 hears nothing
                      from VLAN 0, and its own broadcast goes nowhere
  bad-frames          runts, oversized and group-source frames are dropped
                      and counted by cause, and reach no one
  counters            per-port and per-queue counters match what the
                      peers sent and received
  uplink-tap          an eth port (net_tap) added through the API forwards
                      to and from the kernel's interface (skipped without
                      /dev/net/tun)
  tx-full-no-stall    a peer that stops reading: drops counted as tx_full,
                      other ports keep getting frames
  peer-restart        a peer killed mid-stream: its port stays, drops
                      counted as down; a new peer on the same socket gets
                      the stream again
  remove-port         DELETE /ports/NAME: gone from the API, socket removed
  api-errors          bad JSON 400, duplicate 409, unknown path 404, wrong
                      method 405, a device DPDK refuses 400
  lcores              GET /lcores: the worker polls the queues, has load
  sigterm             SIGTERM: exit 0, sockets removed
Memory: 2 MiB hugepages when at least 1 GiB of them is free and hugetlbfs
is mounted, else --no-huge with memfd-backed memory. Exit 0 when every
check passed, 1 otherwise, 77 when DPDK cannot run here.
"""
import faulthandler
import http.client
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

results = []


def record(name, ok, why=''):
    results.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}" + ('' if ok else f' ({why})'), flush=True)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost', timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def api(ctl, method, path, body=None):
    c = UnixHTTP(ctl)
    data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
    c.request(method, path, body=data, headers={'Content-Type': 'application/json'} if data else {})
    r = c.getresponse()
    text = r.read()
    c.close()
    return r.status, (json.loads(text) if text else None)


def hugepages_usable():
    try:
        free = size = 0
        for line in open('/proc/meminfo'):
            if line.startswith('HugePages_Free:'):
                free = int(line.split()[1])
            elif line.startswith('Hugepagesize:'):
                size = int(line.split()[1])
        mounted = any(l.split()[2] == 'hugetlbfs' for l in open('/proc/mounts'))
        return mounted and free * size >= 1024 * 1024
    except OSError:
        return False


HUGE = hugepages_usable()


def eal(prefix, cpu, mem_mb, frontend):
    """EAL options: frontends share their memory with the switch (one file,
    or memfd without hugepages)."""
    args = ['--no-pci', '--file-prefix', prefix, '--log-level', 'lib.eal:error']
    if HUGE:
        args += ['-m', str(mem_mb)]
    else:
        args += ['--no-huge', '-m', str(mem_mb)]
    if frontend:
        args += ['--single-file-segments']
    return args + ['--lcores', cpu]


class Peer:
    """One sw-peer process; its ports are virtio-user devices on SOCKETS."""

    def __init__(self, exe, name, sockets, work, server=False):
        self.name = name
        args = [exe] + eal(f'swp-{name}-{os.getpid()}', '0@0', 256, True)
        for i, (path, mac) in enumerate(sockets):
            args += ['--vdev', f'net_virtio_user{i},path={path},mac={mac},queue_size=256'
                     + (',server=1' if server else '')]
        self.log = open(os.path.join(work, f'peer-{name}.log'), 'ab')
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.log)
        self.buf = b''
        line = self.read(30)
        if not line.startswith('ok ready'):
            raise RuntimeError(f'peer {name} did not start: {line!r}')

    def read(self, timeout):
        end = time.time() + timeout
        while b'\n' not in self.buf:
            left = end - time.time()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                return ''
            d = os.read(self.p.stdout.fileno(), 4096)
            if not d:
                return ''
            self.buf += d
        line, self.buf = self.buf.split(b'\n', 1)
        return line.decode()

    def cmd(self, line, timeout=30):
        self.p.stdin.write((line + '\n').encode())
        self.p.stdin.flush()
        r = self.read(timeout)
        if not r.startswith('ok'):
            raise RuntimeError(f'peer {self.name}: {line}: {r!r}')
        return r.split()[1:]

    def num(self, line, timeout=30):
        return int(self.cmd(line, timeout)[-1])

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            # A hang here once ate the test's whole timeout: say where the
            # process is stuck instead.
            pid = self.p.pid
            try:
                state = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0]
                wchan = open(f'/proc/{pid}/wchan').read()
            except OSError as e:
                state, wchan = '?', str(e)
            raise RuntimeError(f'peer {self.name} (pid {pid}) still there 20 s after SIGKILL: '
                               f'state {state}, wchan {wchan}')
        finally:
            self.log.close()

    def quit(self):
        try:
            self.cmd('quit', 10)
        except (RuntimeError, BrokenPipeError):
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.kill()
        except RuntimeError as e:
            record(f'peer-{self.name}-exit', False, str(e))


def wait_up(ctl, names, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        _, r = api(ctl, 'GET', '/ports')
        up = {p['name'] for p in r['ports'] if p['up']}
        if set(names) <= up:
            return True
        time.sleep(0.1)
    return False


def port(ctl, name):
    st, r = api(ctl, 'GET', f'/ports/{name}')
    return r if st == 200 else None


def drops(ctl, name):
    return port(ctl, name)['counters']['drops']


def main():
    # meson's timeout ends a hung run with SIGTERM: show where it hung.
    faulthandler.register(signal.SIGTERM, chain=True)
    tern_switch, sw_peer = sys.argv[1], sys.argv[2]
    if not os.path.exists('/dev/hugepages') and not HUGE and os.geteuid() != 0:
        print('SKIP: needs root for DPDK')
        return 77
    work = tempfile.mkdtemp(prefix='tsw-e2e-', dir=os.environ.get('TERN_SWITCH_WORK'))
    sock = {n: os.path.join(work, f'{n}.sock') for n in 'abcde'}
    ctl = os.path.join(work, 'ctl.sock')
    mac = {n: f'02:00:00:00:00:0{i + 1}' for i, n in enumerate('abcde')}
    tap = f'tsw{os.getpid() % 100000}'
    have_tun = os.path.exists('/dev/net/tun')
    print(f'memory: {"2 MiB hugepages" if HUGE else "--no-huge (memfd)"}; work {work}', flush=True)
    args = [tern_switch] + eal(f'tsw-{os.getpid()}', '0@0,1@1', 256, False) + [
        '--', '--ctl', ctl, '--idle-sleep', '20', '--mbufs', '8192', '--aging', '60',
        '--vhost', f'a,path={sock["a"]}', '--vhost', f'b,path={sock["b"]}',
        '--vhost', f'c,path={sock["c"]}', '--vhost', f'e,path={sock["e"]},client']
    swlog = open(os.path.join(work, 'switch.log'), 'wb')
    sw = subprocess.Popen(args, stdout=swlog, stderr=subprocess.STDOUT)
    peers = []
    try:
        for _ in range(300):
            if os.path.exists(ctl) or sw.poll() is not None:
                break
            time.sleep(0.1)
        if sw.poll() is not None:
            print(open(os.path.join(work, 'switch.log')).read())
            print('SKIP: tern-switch would not start (DPDK cannot run here?)')
            return 77
        p1 = Peer(sw_peer, 'p1', [(sock['a'], mac['a']), (sock['c'], mac['c'])], work)
        p2 = Peer(sw_peer, 'p2', [(sock['b'], mac['b'])], work)
        p4 = Peer(sw_peer, 'p4', [(sock['e'], mac['e'])], work, server=True)
        peers += [p1, p2, p4]
        up = wait_up(ctl, 'abce')
        record('ports-up', up, 'not every port came up')
        if not up:
            return 1
        A, C = 0, 1  # p1's ports

        # Unknown destination: flooded to b, c and e; a learned.
        p1.num(f'send {A} {mac["b"]} 10 60')
        got = (p2.num('wait 0 10 3000'), p1.num(f'wait {C} 10 3000'), p4.num('wait 0 10 3000'))
        _, mt = api(ctl, 'GET', '/mac')
        learned = {(e['mac'], e['port']) for e in mt['entries']}
        record('flood-unknown', got == (10, 10, 10) and (mac['a'], 'a') in learned,
               f'b, c, e got {got}; table {sorted(learned)}')

        # b answers a: unicast; then a to b: unicast.
        p2.num(f'send 0 {mac["a"]} 10 60')
        got_a = p1.num(f'wait {A} 10 3000')
        time.sleep(0.2)
        others = (p1.num(f'count {C}'), p4.num('count 0'))
        p1.num(f'send {A} {mac["b"]} 7 100')
        got_b = p2.num('wait 0 7 3000')
        time.sleep(0.2)
        others += (p1.num(f'count {C}'), p4.num('count 0'))
        record('unicast-learned', got_a == 10 and got_b == 7 and others == (0, 0, 0, 0),
               f'a got {got_a}, b got {got_b}, c/e got {others}')

        p1.num(f'send {C} ff:ff:ff:ff:ff:ff 5 60')
        got = (p1.num(f'wait {A} 5 3000'), p2.num('wait 0 5 3000'), p4.num('wait 0 5 3000'))
        record('flood-broadcast', got == (5, 5, 5), f'a, b, e got {got}')

        p4.num(f'send 0 {mac["a"]} 9 60')
        got = p1.num(f'wait {A} 9 3000')
        p1.num(f'send {A} {mac["e"]} 4 60')
        got_e = p4.num('wait 0 4 3000')
        record('client-mode', got == 9 and got_e == 4 and port(ctl, 'e')['client'],
               f'a got {got} from e, e got {got_e}')

        # A port added at run time, in VLAN 10.
        st, r = api(ctl, 'POST', '/ports', {'name': 'd', 'type': 'vhost', 'path': sock['d'],
                                            'vlan': 10})
        p3 = Peer(sw_peer, 'p3', [(sock['d'], mac['d'])], work)
        peers.append(p3)
        ok = st == 201 and wait_up(ctl, 'd')
        p1.num(f'send {A} ff:ff:ff:ff:ff:ff 6 60')
        p2.num('wait 0 6 3000')
        p1.num(f'wait {C} 6 3000')
        p4.num('wait 0 6 3000')
        time.sleep(0.2)
        leak = p3.num('count 0')
        local0 = drops(ctl, 'd')['local']
        p3.num('send 0 ff:ff:ff:ff:ff:ff 3 60')
        time.sleep(0.3)
        heard = (p1.num(f'count {A}'), p1.num(f'count {C}'), p2.num('count 0'), p4.num('count 0'))
        local = drops(ctl, 'd')['local'] - local0
        record('vlan-isolation', ok and leak == 0 and heard == (0, 0, 0, 0) and local == 3,
               f'POST {st} {r}, d heard {leak} from VLAN 0, VLAN 0 heard {heard}, local {local}')

        # Bad frames from a: none delivered, each counted by cause.
        before = drops(ctl, 'a')
        p1.num(f'send {A} {mac["b"]} 3 10')
        p1.num(f'send {A} {mac["b"]} 2 1515')
        p1.num(f'send {A} {mac["b"]} 4 60 01:00:5e:00:00:01')
        p1.num(f'send {A} {mac["b"]} 1 1514')
        time.sleep(0.3)
        after = drops(ctl, 'a')
        delta = {k: after[k] - before[k] for k in ('runt', 'oversize', 'malformed')}
        got = p2.num('count 0')
        record('bad-frames', delta == {'runt': 3, 'oversize': 2, 'malformed': 4} and got == 1,
               f'drops {delta}, b got {got} (the one 1514-byte frame)')

        # Counters: what a took in, b gave out, per queue too.
        pa, pb = port(ctl, 'a'), port(ctl, 'b')
        a_rx = 10 + 7 + 4 + 6 + 3 + 2 + 4 + 1        # every frame p1 sent on a
        b_tx = 10 + 7 + 5 + 6 + 1                    # every frame p2 received
        qa = pa['counters']['queues'][0]
        ok = (pa['counters']['rx_packets'] == a_rx and pb['counters']['tx_packets'] == b_tx
              and qa['rx_packets'] == a_rx and qa['lcore'] == 1
              and pa['counters']['rx_bytes'] == 10 * 60 + 7 * 100 + 4 * 60 + 6 * 60 + 3 * 10
              + 2 * 1515 + 4 * 60 + 1514)
        record('counters', ok, f'a rx {pa["counters"]["rx_packets"]} (want {a_rx}), '
               f'b tx {pb["counters"]["tx_packets"]} (want {b_tx}), queue 0 {qa}')

        # The tap uplink, added through the API: the kernel's interface
        # sends and receives (IPv6 off there, so the kernel adds no frames).
        if have_tun:
            try:
                st, r = api(ctl, 'POST', '/ports', {'name': 'up0', 'type': 'eth',
                                                    'devargs': f'net_tap0,iface={tap}'})
                with open(f'/proc/sys/net/ipv6/conf/{tap}/disable_ipv6', 'w') as f:
                    f.write('1')
                os.system(f'ip link set {tap} up')
                raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
                raw.bind((tap, 0))
                raw.settimeout(3)
                kmac = bytes.fromhex('02aabbccdd01')
                frame = bytes(6 * [0xff]) + kmac + struct.pack('!H', 0x88b5) + bytes(46)
                for _ in range(5):
                    raw.send(frame)
                got_in = (p1.num(f'wait {A} 5 3000'), p2.num('wait 0 5 3000'))
                p1.num(f'send {A} 02:aa:bb:cc:dd:01 3 60')
                seen = 0
                try:
                    while seen < 3:
                        d = raw.recv(2048)
                        if d[:6] == kmac:
                            seen += 1
                except socket.timeout:
                    pass
                raw.close()
                up0 = port(ctl, 'up0')
                record('uplink-tap', st == 201 and got_in == (5, 5) and seen == 3 and up0['up'],
                       f'POST {st}, peers got {got_in} from the kernel, kernel got {seen}; '
                       f'{up0 and up0["device"]}')
            except OSError as e:
                record('uplink-tap', False, str(e))
        else:
            print('SKIP uplink-tap (no /dev/net/tun)')
        time.sleep(0.2)
        for p, q in ((p1, A), (p1, C), (p2, 0), (p4, 0)):
            p.num(f'count {q}')

        # b stops reading: its ring fills, drops are tx_full, c keeps going.
        p2.cmd('pause 0')
        full0 = drops(ctl, 'b')['tx_full']
        p1.num(f'send {A} {mac["b"]} 2000 60')
        p1.num(f'send {A} {mac["c"]} 50 60')  # c is p1's own: via the switch
        got_c = p1.num(f'wait {C} 50 3000')
        full = drops(ctl, 'b')['tx_full'] - full0
        p2.cmd('resume 0')
        p2.num('wait 0 100000 500')
        record('tx-full-no-stall', full > 0 and got_c == 50,
               f'b tx_full +{full}, c got {got_c} of 50 meanwhile')

        # b's peer dies mid-stream and comes back on the same socket.
        p1.cmd(f'stream {A} {mac["b"]} 20000 60')
        before = p2.num('wait 0 2000 5000')
        p2.kill()
        peers.remove(p2)
        time.sleep(1.0)
        pb = port(ctl, 'b')
        down_ok = not pb['up'] and pb['disconnects'] == 1
        down0 = pb['counters']['drops']['down']
        time.sleep(0.5)
        down = drops(ctl, 'b')['down'] - down0
        p2 = Peer(sw_peer, 'p2b', [(sock['b'], mac['b'])], work)
        peers.append(p2)
        back = wait_up(ctl, 'b')
        after = p2.num('wait 0 2000 5000')
        sent = p1.num(f'stream {A} stop')
        pb = port(ctl, 'b')
        record('peer-restart', before >= 2000 and down_ok and down > 0 and back and after >= 2000
               and pb['connects'] == 2,
               f'before {before}, down ok {down_ok} (+{down} down drops), back {back}, '
               f'after {after}, connects {pb["connects"]}, stream sent {sent}')

        # Remove d.
        st, _ = api(ctl, 'DELETE', '/ports/d')
        st2, _ = api(ctl, 'GET', '/ports/d')
        record('remove-port', st == 200 and st2 == 404 and not os.path.exists(sock['d']),
               f'DELETE {st}, GET after {st2}, socket there {os.path.exists(sock["d"])}')
        p3.kill()
        peers.remove(p3)

        codes = (api(ctl, 'POST', '/ports', '{"name": ')[0],
                 api(ctl, 'POST', '/ports', {'name': 'a', 'type': 'vhost',
                                             'path': sock['a'] + 'x'})[0],
                 api(ctl, 'POST', '/ports', {'name': 'z', 'type': 'vhost', 'path': sock['a']})[0],
                 api(ctl, 'POST', '/ports', {'name': 'q', 'type': 'eth',
                                             'devargs': 'net_nosuchdriver0'})[0],
                 api(ctl, 'POST', '/ports', {'name': 'q', 'type': 'vhost', 'path': '/x',
                                             'lcores': [7]})[0],
                 api(ctl, 'GET', '/nope')[0], api(ctl, 'PUT', '/ports')[0],
                 api(ctl, 'DELETE', '/ports/nope')[0])
        record('api-errors', codes == (400, 409, 409, 400, 400, 404, 405, 404), f'{codes}')

        st, r = api(ctl, 'GET', '/lcores')
        w = r['lcores'][0] if st == 200 and r['lcores'] else {}
        qs = {(q['port'], q['queue']) for q in w.get('rx_queues', [])}
        record('lcores', w.get('lcore') == 1 and {('a', 0), ('b', 0), ('c', 0)} <= qs
               and w.get('rx_packets', 0) > 0 and 0 < w.get('load', 0) <= 1,
               f'{w}')
    except Exception as e:  # a broken step fails the run, with its reason
        record('e2e-aborted', False, repr(e))
    finally:
        for p in peers:
            p.quit()
        if sw.poll() is None:
            sw.send_signal(signal.SIGTERM)
            try:
                st = sw.wait(15)
            except subprocess.TimeoutExpired:
                sw.kill()
                st = 'timeout'
            # e's socket is its peer's (client mode): not ours to remove.
            left = [n for n in 'abcd' if os.path.exists(sock[n])] + \
                (['ctl'] if os.path.exists(ctl) else [])
            record('sigterm', st == 0 and not left, f'exit {st}, left {left}')
        else:
            record('sigterm', False, f'tern-switch died early: {sw.returncode}')
        swlog.close()
    failed = [n for n, ok in results if not ok]
    if failed:
        print(open(os.path.join(work, 'switch.log'), errors='replace').read()[-6000:])
        print(f'logs kept in {work}')
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f'{len(results) - len(failed)} passed, {len(failed)} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
