"""Fuzz the untrusted-input readers: the stream decoder and the ss and netstat parsers.

    python3 bench/fuzz.py [--inputs 1000000] [--seed 1] [--workers 2]

Inputs are mutated real snapshots (one taken from this machine), mutated ``ss -tuanpe``
(this machine's and a sample) and illumos netstat texts, and random bytes.  Every
decoder input runs three times: whole, in random chunks (the verdicts must agree) and
in random chunks under small limits.  Anything but accepted data, a SchemaError or a
ParseError is a BUG (as is an accepted address or port out of range, or one input
taking over --hang seconds); the exit status is then 1.  Tests: tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgpack

from agent.collect import collect_snapshot
from agent.query import Query
from bench.common import ROOT
from common.decode import Limits
from common.decode import StreamDecoder
from common.decode import socket_from_wire
from common.errors import FleetError
from common.errors import SchemaError
from common.schema import AGENT_FAILED
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from common.wire import encode_snapshot
from common.wire import header_to_wire
from common.wire import socket_to_wire
from controller.netstat import parse_netstat
from controller.ss import parse_ss

TASK = 25_000  # inputs per task; a task's seed is (--seed, task number)
REAL_SOCKETS = 40  # of the snapshot taken from this machine
ADDRESS_CHARS = frozenset(string.ascii_letters + string.digits + ":.%_-")
KINDS = ("snapshot", "ss", "netstat", "bytes")
OUTCOMES = ("accepted", "rejected", "bug")
WEIGHTS = (40, 20, 20, 20)
TARGETS = {
    "snapshot": ("decode", "decode, small limits"),
    "ss": ("parse_ss",),
    "netstat": ("parse_netstat",),
    "bytes": ("decode", "decode, small limits", "parse_ss", "parse_netstat"),
}

SS_SAMPLE = """\
Netid State     Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
udp   UNCONN    0      0      127.0.0.53%lo:53        0.0.0.0:*     users:(("systemd-resolve",pid=501,fd=13)) uid:101 ino:18400 sk:1 cgroup:/system.slice <->
tcp   LISTEN    0      128          0.0.0.0:22        0.0.0.0:*     users:(("sshd",pid=812,fd=3),("sshd",pid=900,fd=3)) ino:18123 sk:2 cgroup:/ <->
tcp   ESTAB     0      0    [::ffff:10.0.0.5]:22 [::ffff:10.0.0.9]:5123 users:(("sshd",pid=900,fd=4)) timer:(keepalive,119min,0) uid:0 ino:18200 sk:3
tcp   TIME-WAIT 0      0          127.0.0.1:40002   127.0.0.1:48609 timer:(timewait,35sec,0) ino:0 sk:7de
tcp   LISTEN    0      128             [::]:80           [::]:*     users:(("my \\"app\\"",pid=7,fd=9)) ino:18300 sk:4
udp   UNCONN    0      0    [fe80::1%eth0]:546          [::]:*     ino:18500 sk:5
"""  # noqa: E501

# Msgpack markers that make a decoder allocate, nest, or meet types it must refuse.
HOSTILE_BYTES = (
    b"\xc0", b"\xc1", b"\xc2", b"\xc3", b"\x90", b"\x80", b"\xa0", b"\xc4\x00",
    b"\xcc\xff", b"\xcd\xff\xff", b"\xce\xff\xff\xff\xff", b"\xcf" + b"\xff" * 8,
    b"\xd3\x80" + b"\x00" * 7, b"\xcb\x7f\xf8" + b"\x00" * 6, b"\xca\x7f\x80\x00\x00",
    b"\xdc\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xde\xff\xff", b"\xdf\xff\xff\xff\xff",
    b"\xda\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff", b"\xd4\x00\x00",
    b"\xc7\x01\x05\x00", b"\xd6\xff\x00\x00\x00\x00", b"\x91" * 64, b"\xa1\x1b",
    b"\xa3\xed\xa0\x80", b"\xdc\xff\xff" * 300,
)  # fmt: skip
# Tokens the text parsers split, match or convert: separators, digits int() accepts,
# line breaks str.splitlines() knows, section headings, escape sequences.
HOSTILE_TEXT = (
    "\x00", "\x1b[2J", "\r", "\n", "\x0b", "\x1c", "\x85", "\u2028", " ", "\t",
    "[", "]", ":", "*", ".", "%", '"', "\\", "(", ")", ",", "-1", "+1", "1_0",
    "\u0663", "\uff11", "99999999999999999999", "9" * 5000, "users:((", '("x",pid=',
    ",fd=", "))", "ino:", "uid:", "pid=0", "TCP: IPv4", "UDP: IPv6", "TCP:", "Active ",
    "---", "Local Address Remote Address User Pid Command State", "LISTEN", "ESTAB",
    "UNCONN", "Idle", "Unbound", "Connected", "IDLE", "tcp", "udp", "Netid",
)  # fmt: skip


class Hang(Exception):
    """One input took longer than --hang seconds."""


class Invariant(Exception):
    """Accepted data breaks a promise of the decoder (an address, a port, a verdict)."""


# -- the corpus --------------------------------------------------------------------


def real_snapshot() -> Snapshot:
    """Snapshot this machine with a few sockets of our own open (listener, pair, UDP)."""
    held: list[socket.socket] = []
    try:
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        udp.bind(("::1", 0))
        pair = socket.socketpair()
        held += [listener, client, server, udp, *pair]
        snapshot = collect_snapshot(Query(families=frozenset(Family)), zone="fuzz")
    finally:
        for sock in held:
            sock.close()
    # Small inputs: a busy machine (a benchmark's 60,000 sockets) would slow every run.
    ours = [s for s in snapshot.sockets if any(o.pid == os.getpid() for o in s.owners)]
    others = [s for s in snapshot.sockets if s not in ours]
    snapshot.sockets = tuple((ours + others)[:REAL_SOCKETS])
    return snapshot


def made_snapshot() -> Snapshot:
    """A hand-made snapshot: every family, shared owners, long and hostile strings."""
    java = Owner(4242, 7, 1000, "app", "java", "java -cp " + "x" * 600 + " \x1b[2J")
    sshd = Owner(812, 3, 0, "root", "sshd", "sshd: /usr/sbin/sshd -D [listener]")
    sockets = [
        Socket(Proto.TCP, Family.INET, "stream", "LISTEN", "0.0.0.0", 22, None, None,  # noqa: S104
               None, 18123, 0, None, (sshd,)),
        Socket(Proto.TCP, Family.INET6, "stream", "ESTABLISHED", "::ffff:10.0.0.5", 22,
               "::ffff:10.0.0.9", 5123, None, 18200, 0, None, (sshd, java)),
        Socket(Proto.UDP, Family.INET6, "dgram", "UNCONN", "fe80::1%eth0", 546, None,
               None, None, 18500, 0, None, ()),
        Socket(Proto.UNIX, Family.UNIX, "stream", "ESTABLISHED", None, None, None,
               None, "@abstract name", 3301, 1000, 3302, (java,)),
        Socket(Proto.UNIX, Family.UNIX, "dgram", "UNCONN", None, None, None, None,
               "/run/a path/with spaces", 3303, 0, None, ()),
    ] + [
        Socket(Proto.TCP, Family.INET, "stream", "ESTABLISHED", "10.0.0.5", 8080,
               f"10.0.1.{i}", 40000 + i, None, 20000 + i, 1000, None, (java,))
        for i in range(6)
    ]  # fmt: skip
    return Snapshot("web1", "global", "linux", "Linux 6.1", "0.1.0", 1.7e9, 0.012,
                    tuple(sockets), ("1 socket has no visible owner",))  # fmt: skip


def stream_corpus() -> list[bytes]:
    """Encoded streams: this machine, a hand-made zone, a failed agent, two zones."""
    failed = Snapshot("h", "z", "linux", "Linux 6", "0.1.0", 1.0, errors=("no netns",),
                      failure=AGENT_FAILED)  # fmt: skip
    snapshots = [real_snapshot(), made_snapshot(), failed]
    streams = [b"".join(encode_snapshot(s)) for s in snapshots]
    return [*streams, streams[0] + streams[1]]


def ss_corpus() -> list[str]:
    texts = [SS_SAMPLE]
    ss = shutil.which("ss")
    if ss is not None:
        done = subprocess.run([ss, "-tuanpe"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout:
            texts.append(done.stdout)
    return texts


def netstat_corpus() -> list[str]:
    fixtures = ROOT / "tests" / "fixtures" / "illumos"
    return [p.read_text() for p in sorted(fixtures.glob("netstat-*.txt"))]


# -- mutations ---------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Flip, set, cut, insert, delete, repeat or overwrite with msgpack markers."""
    buf = bytearray(data)
    for _ in range(min(1 + int(rng.expovariate(0.5)), 16)):
        where = rng.randint(0, len(buf))
        action = rng.randrange(7)
        if action == 0 and where < len(buf):
            buf[where] ^= 1 << rng.randrange(8)
        elif action == 1 and where < len(buf):
            buf[where] = rng.randrange(256)
        elif action == 2:
            del buf[where:]
        elif action == 3:
            buf[where:where] = rng.randbytes(rng.randint(1, 8))
        elif action == 4:
            del buf[where : where + rng.randint(1, 32)]
        elif action == 5:
            buf[where:where] = buf[where : where + rng.randint(1, 64)]
        else:
            marker = rng.choice(HOSTILE_BYTES)
            buf[where : where + rng.randint(0, len(marker))] = marker
    return bytes(buf)


def random_chars(rng: random.Random, count: int) -> str:
    if rng.random() < 0.5:
        return "".join(chr(rng.randrange(128)) for _ in range(count))
    return "".join(chr(rng.randrange(0xD800)) for _ in range(count))


def mutate_text(rng: random.Random, text: str) -> str:
    """Insert hostile tokens or random characters, delete, cut, repeat or swap lines."""
    for _ in range(min(1 + int(rng.expovariate(0.5)), 16)):
        where = rng.randint(0, len(text))
        action = rng.randrange(7)
        if action <= 1:
            text = text[:where] + rng.choice(HOSTILE_TEXT) + text[where:]
        elif action == 2:
            text = text[:where] + random_chars(rng, rng.randint(1, 8)) + text[where:]
        elif action == 3:
            text = text[:where] + text[where + rng.randint(1, 24) :]
        elif action == 4:
            text = text[:where]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                line = rng.choice(lines)
                if action == 6:  # swap two fields of the line
                    fields = line.split()
                    if len(fields) > 1:
                        i, j = rng.randrange(len(fields)), rng.randrange(len(fields))
                        fields[i], fields[j] = fields[j], fields[i]
                    line = " ".join(fields) + "\n"
                lines.insert(rng.randint(0, len(lines)), line)
            text = "".join(lines)
    return text


def random_bytes(rng: random.Random, header: bytes) -> bytes:
    """Mostly short random bytes; some after a valid header, so records get decoded."""
    size = min(int(rng.expovariate(1 / 64)), 4096)
    data = rng.randbytes(size)
    return header + data if rng.random() < 0.3 else data


# -- running one input -------------------------------------------------------------


def check_socket(sock: Socket) -> None:
    for address in (sock.local_address, sock.remote_address):
        if address is not None and not (
            0 < len(address) <= 64 and ADDRESS_CHARS.issuperset(address)
        ):
            msg = f"accepted address {address!r}"
            raise Invariant(msg)
    for port in (sock.local_port, sock.remote_port):
        if port is not None and not (type(port) is int and 0 <= port <= 0xFFFF):
            msg = f"accepted port {port!r}"
            raise Invariant(msg)


def decode(data: bytes, limits: Limits, rng: random.Random | None) -> list[Snapshot]:
    """Feed whole, or in random chunks; check what is accepted."""
    decoder = StreamDecoder(limits)
    if rng is None:
        decoder.feed(data)
    else:
        start = 0
        while start < len(data):
            end = start + rng.randint(1, 512)
            decoder.feed(data[start:end])
            start = end
    snapshots = decoder.finish_all()
    for snapshot in snapshots:
        for sock in snapshot.sockets:
            check_socket(sock)
    return snapshots


def verdict(run: Callable[[], list[Snapshot]]) -> str:
    """Accepted data as its repr (NaN times compare equal), or the rejection message.

    Not the exception itself: its traceback would keep the decoder and its partial
    record alive, and the peak RSS measured would be that of two decoders.
    """
    try:
        return repr(run())
    except SchemaError as err:
        return f"SchemaError: {err}"


def decode_both_ways(data: bytes, rng: random.Random) -> None:
    """Decode whole and chunked: chunking is the network's choice, not a verdict."""
    whole = verdict(lambda: decode(data, Limits(), None))
    chunked = verdict(lambda: decode(data, Limits(), rng))
    rejected = whole.startswith("SchemaError: ")
    if rejected != chunked.startswith("SchemaError: ") or (
        not rejected and whole != chunked
    ):
        msg = f"chunking changed the verdict: {whole:.80} / {chunked:.80}"
        raise Invariant(msg)
    if rejected:
        raise SchemaError(whole)


def small_limits(rng: random.Random) -> Limits:
    return Limits(
        max_stream_bytes=rng.randint(0, 20_000),
        max_record_bytes=rng.randint(2, 4096),
        max_sockets=rng.randint(0, 20),
        max_owners=rng.randint(0, 8),
        max_text=rng.randint(0, 200),
        max_messages=rng.randint(0, 8),
    )


def parse_fallback(parse: Callable[..., list[Socket]], text: str) -> None:
    """Parse, then check each socket as controller/agentio.py does."""
    for index, sock in enumerate(parse(text, source="fuzz")):
        checked = socket_from_wire(socket_to_wire(sock), index)
        check_socket(checked)


def runs_for(
    kind: str, data: bytes | str, rng: random.Random
) -> list[tuple[str, Callable[[], object]]]:
    if kind in ("snapshot", "bytes"):
        assert isinstance(data, bytes)
        limits = small_limits(rng)
        runs: list[tuple[str, Callable[[], object]]] = [
            ("decode", lambda: decode_both_ways(data, rng)),
            ("decode, small limits", lambda: decode(data, limits, rng)),
        ]
        if kind == "bytes":
            # What controller/agentio.py makes of a fallback listing's bytes.
            text = data.decode("utf-8", "backslashreplace")
            # netstat rows count only under a section heading.
            section = rng.choice(("TCP: IPv4\n", "UDP: IPv6\n", ""))
            runs.append(("parse_ss", lambda: parse_fallback(parse_ss, text)))
            runs.append(
                ("parse_netstat", lambda: parse_fallback(parse_netstat, section + text))
            )
        return runs
    assert isinstance(data, str)
    parse = parse_ss if kind == "ss" else parse_netstat
    return [(f"parse_{kind}", lambda: parse_fallback(parse, data))]


def on_alarm(signum: int, frame: object) -> None:
    raise Hang


class Corpus:
    """What the inputs are mutated from (sent to each worker once per task)."""

    def __init__(self) -> None:
        self.streams = stream_corpus()
        self.ss = ss_corpus()
        self.netstat = netstat_corpus()
        self.header = msgpack.packb(header_to_wire(made_snapshot()), use_bin_type=True)

    def make(self, rng: random.Random, kind: str) -> bytes | str:
        """Return one input of the given kind."""
        if kind == "snapshot":
            return mutate_bytes(rng, rng.choice(self.streams))
        if kind == "ss":
            return mutate_text(rng, rng.choice(self.ss))
        if kind == "netstat":
            return mutate_text(rng, rng.choice(self.netstat))
        return random_bytes(rng, self.header)


# (kind, target, signature, message, input)
Bug = tuple[str, str, str, str, "bytes | str"]


class Tally:
    """Outcomes of a task's inputs, added up across tasks by the parent."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str, str]] = Counter()
        self.slowest: dict[tuple[str, str], float] = {}
        self.longest = (0.0, "", 0)  # seconds, kind, length of that input
        self.grew = (0, "", "", 0)  # largest rise of peak RSS (KiB): kind, input, length
        self.bugs: list[Bug] = []
        self.signatures: Counter[str] = Counter()
        self.rss_start = 0  # KiB, after a fresh worker's first 100 inputs (lowest)
        self.rss_peak = 0  # KiB

    def add(self, other: Tally) -> None:
        self.kinds += other.kinds
        self.outcomes += other.outcomes
        for key, took in other.slowest.items():
            self.slowest[key] = max(took, self.slowest.get(key, 0.0))
        self.longest = max(self.longest, other.longest)
        self.grew = max(self.grew, other.grew, key=lambda g: g[0])
        self.signatures += other.signatures
        seen = {b[2] for b in self.bugs}
        self.bugs += [b for b in other.bugs if b[2] not in seen]
        self.rss_start = min(self.rss_start or other.rss_start, other.rss_start)
        self.rss_peak = max(self.rss_peak, other.rss_peak)


def signature_of(kind: str, target: str, err: BaseException) -> str:
    frame = traceback.extract_tb(err.__traceback__)[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno}"
    return f"{target}: {type(err).__name__} at {where}"


def run_one(run: Callable[[], object], hang: float) -> BaseException | None:
    """Run one target on one input; return the exception that is a bug, or None."""
    signal.setitimer(signal.ITIMER_REAL, hang)
    try:
        run()
    except FleetError:  # SchemaError, LimitError, ParseError: the contract
        raise
    except Exception as err:  # any other exception is the finding
        return err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def fuzz_task(job: tuple[int, int, int, float, Corpus]) -> Tally:
    """Run ``count`` inputs from the seed (seed, task)."""
    seed, task, count, hang, corpus = job
    rng = random.Random(f"{seed}/{task}")  # noqa: S311 - reproducible, not secret
    tally = Tally()
    signal.signal(signal.SIGALRM, on_alarm)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for number in range(count):
        if number == 100:
            tally.rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kind = rng.choices(KINDS, WEIGHTS)[0]
        data = corpus.make(rng, kind)
        tally.kinds[kind] += 1
        started = time.perf_counter()
        for target, run in runs_for(kind, data, rng):
            began = time.perf_counter()
            err: BaseException | None = None
            try:
                err = run_one(run, hang)
            except FleetError:
                outcome = "rejected"
            else:
                outcome = "accepted" if err is None else "bug"
            took = time.perf_counter() - began
            tally.outcomes[kind, target, outcome] += 1
            tally.slowest[kind, target] = max(took, tally.slowest.get((kind, target), 0))
            if err is not None:
                signature = signature_of(kind, target, err)
                tally.signatures[signature] += 1
                if tally.signatures[signature] == 1:
                    message = f"{type(err).__name__}: {err}"[:200]
                    tally.bugs.append((kind, target, signature, message, data))
        took = time.perf_counter() - started
        tally.longest = max(tally.longest, (took, kind, len(data)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if number >= 100 and peak - before > tally.grew[0]:
            tally.grew = (peak - before, kind, repr(data)[:100], len(data))
        before = peak
    tally.rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return tally


# -- the report --------------------------------------------------------------------


def minimize(bug: Bug, hang: float) -> bytes | str:
    """Shrink a crashing input while it crashes the same way (lines, then slices)."""
    kind, target, signature, _, data = bug
    rng = random.Random(0)  # noqa: S311

    def same(candidate: bytes | str) -> bool:
        for name, run in runs_for(kind, candidate, rng):
            if name == target:
                try:
                    err = run_one(run, hang)
                except FleetError:
                    return False
                return err is not None and signature_of(kind, target, err) == signature
        return False

    tries, size = 0, max(len(data) // 2, 1)
    while size >= 1 and tries < 5_000:
        start = 0
        while start < len(data) and tries < 5_000:
            candidate, tries = cut(data, start, size), tries + 1
            if same(candidate):
                data = candidate
            else:
                start += size
        size //= 2
    return data


def cut(data: bytes | str, start: int, size: int) -> bytes | str:
    if isinstance(data, bytes):
        return data[:start] + data[start + size :]
    return data[:start] + data[start + size :]


def report(tally: Tally, args: argparse.Namespace, wall: float, workers: int) -> str:
    lines = [
        "| input | target | inputs | accepted | rejected | BUG | slowest ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        for target in TARGETS[kind]:
            n = {o: tally.outcomes[kind, target, o] for o in OUTCOMES}
            lines.append(
                f"| {kind} | {target} | {sum(n.values()):,} | {n['accepted']:,} "
                f"| {n['rejected']:,} | {n['bug']:,} "
                f"| {tally.slowest.get((kind, target), 0) * 1000:.1f} |"
            )
    total = sum(tally.kinds.values())
    took, kind, size = tally.longest
    lines += [
        "",
        f"inputs: {total:,} ({', '.join(f'{k} {tally.kinds[k]:,}' for k in KINDS)}); "
        f"{workers} workers; wall {wall:.1f} s ({total / wall:,.0f} inputs/s)",
        f"longest single input: {took * 1000:.1f} ms ({kind}, {size:,} bytes or chars)",
        f"peak RSS per worker: {tally.rss_peak / 1024:.1f} MiB "
        f"(after its first 100 inputs: {tally.rss_start / 1024:.1f} MiB); "
        f"largest rise from one input: {tally.grew[0] / 1024:.1f} MiB "
        f"({tally.grew[1]}, {tally.grew[3]:,} long: {tally.grew[2]})",
        f"bugs: {sum(tally.signatures.values()):,} inputs, "
        f"{len(tally.signatures)} distinct (exception type and line)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hang", type=float, default=10.0, help="seconds for one input")
    args = parser.parse_args()
    corpus = Corpus()
    signal.signal(signal.SIGALRM, on_alarm)  # for minimize()
    jobs = [
        (args.seed, task, min(TASK, args.inputs - start), args.hang, corpus)
        for task, start in enumerate(range(0, args.inputs, TASK))
    ]
    tally = Tally()
    started = time.perf_counter()
    # A fresh process per task: each task's peak RSS is its own.
    context = multiprocessing.get_context("fork")
    with context.Pool(args.workers, maxtasksperchild=1) as pool:
        for done, part in enumerate(pool.imap_unordered(fuzz_task, jobs), start=1):
            tally.add(part)
            print(f"\r{done}/{len(jobs)} tasks", end="", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    print(file=sys.stderr)
    print(f"    python3 bench/fuzz.py {shlex.join(sys.argv[1:])}".rstrip())
    print(
        f"\n{platform.node()}, {platform.release()}, Python {platform.python_version()}, "
        f"msgpack {'.'.join(map(str, msgpack.version))}; corpus: "
        f"{len(corpus.streams)} streams ({', '.join(str(len(s)) for s in corpus.streams)}"
        f" bytes), {len(corpus.ss)} ss and {len(corpus.netstat)} netstat texts\n"
    )
    print(report(tally, args, wall, args.workers))
    if tally.bugs:
        print("\nBUGS (first input of each kind, then shrunk):")
        for bug in tally.bugs[:10]:
            kind, _, signature, message, data = bug
            print(f"- {signature} ({tally.signatures[signature]:,} inputs): {message}")
            print(f"  input ({kind}, {len(data):,}): {repr(data)[:300]}")
            small = minimize(bug, args.hang)
            print(f"  shrunk ({len(small):,}): {repr(small)[:300]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
