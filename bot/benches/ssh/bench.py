#!/usr/bin/env python3
"""SSH benchmark of issue 4: deckhand against a ControlMaster shell loop, Ansible and Fabric.

Everything runs in one go, on the same real sshd hosts (127.0.0.x, fresh keys in a temp dir),
with the tools interleaved within each repetition. See README.md next to this file.

The orchestrator uses the Python standard library only; Ansible and Fabric are installed from
PyPI into a venv under --cache (default ~/.cache/deckhand-bench).
"""

import argparse
import ctypes
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SSHD = "/usr/sbin/sshd"

# The reference workload: 10 separate remote commands per host, run by every tool exactly as
# written (each goes through the remote user's shell). $HOME is the host's own root directory
# (sshd's SetEnv), so the "hosts" never share files although they share this machine.
WORKLOAD = [
    'mkdir -p "$HOME/app/releases/r1"',
    'echo r1 > "$HOME/app/REVISION"',
    'ln -sfn "$HOME/app/releases/r1" "$HOME/app/current"',
    "true",
    'test -d "$HOME/app/releases/r1"',
] + ["sleep 0.1"] * 5

PYPI_PACKAGES = ["ansible-core", "fabric"]


# --------------------------------------------------------------------------------------------
# Process accounting: every process a tool starts is ours to reap.
#
# The orchestrator makes itself a child subreaper, so processes that daemonize (ssh masters
# started with -f or ControlPersist, by the CM loop, Ansible or deckhand's openssh crate) are
# reparented to it instead of init. It reaps the tool and every such orphan with wait4() and
# sums their rusage: CPU = user+sys of the whole client-side process tree (a process's rusage
# from wait4 includes the descendants it reaped itself). Peak RSS = the largest ru_maxrss in the
# tree (what GNU time reports), and a sampled peak of the summed PSS of the live tree.
# --------------------------------------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36
fixture_pids = set()  # sshd processes: our children, never reaped by the accounting loop


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("warning: prctl(PR_SET_CHILD_SUBREAPER) failed; daemonized ssh masters will not "
              "be counted in CPU time", file=sys.stderr)


def parent_map():
    """pid -> ppid for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        out[int(d)] = int(s[s.rindex(")") + 2:].split()[1])
    return out


def our_tree():
    """Our descendants, fixtures (and their descendants) excluded."""
    pm = parent_map()
    kids = {}
    for pid, ppid in pm.items():
        kids.setdefault(ppid, []).append(pid)
    todo = [p for p in kids.get(os.getpid(), []) if p not in fixture_pids]
    seen = []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return seen


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak of the summed PSS of our process tree, sampled every `interval` seconds."""

    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(self.interval):
            total = sum(pss_kb(p) for p in our_tree())
            self.peak_kb = max(self.peak_kb, total)


class Result:
    def __init__(self):
        self.ok = False
        self.wall = 0.0
        self.cpu = 0.0
        self.maxrss_kb = 0
        self.pss_kb = 0
        self.output = ""
        self.note = ""
        self.own_duration = None  # deckhand's "succeeded in …", seconds


def run_measured(argv, *, env=None, stdin_data=b"", cwd=None, sample=0.05,
                 after=None, linger=5.0):
    """Run argv, time it, reap it and any orphans; return a Result (ok = exit status 0).

    `after` runs once the tool has exited (e.g. to close masters it left running); its
    processes count towards CPU too. Orphans still alive `linger` s later are killed."""
    r = Result()
    out = tempfile.TemporaryFile()
    inp = tempfile.TemporaryFile()
    inp.write(stdin_data)
    inp.seek(0)
    sampler = Sampler(sample) if sample else None
    if sampler:
        sampler.start()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=subprocess.STDOUT, env=env,
                         cwd=cwd)
    cpu = 0.0
    maxrss = 0
    status = None

    def account(pid, ru):
        """Counts a reaped process's CPU and RSS; False for an sshd fixture (not the tool's)."""
        nonlocal cpu, maxrss
        if pid in fixture_pids:
            fixture_pids.discard(pid)
            r.note += f" an sshd fixture (pid {pid}) died;"
            return False
        cpu += ru.ru_utime + ru.ru_stime
        maxrss = max(maxrss, ru.ru_maxrss)
        return True

    while status is None:
        pid, st, ru = os.wait4(-1, 0)
        if account(pid, ru) and pid == p.pid:
            status = st
            r.wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if after:
        after()
    deadline = time.monotonic() + linger
    while True:
        try:
            pid, st, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            account(pid, ru)
            continue
        left = our_tree()
        if not left:
            break
        if time.monotonic() > deadline:
            r.note += f" killed {len(left)} leftover process(es);"
            for q in left:
                try:
                    os.kill(q, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2
        time.sleep(0.01)
    if sampler:
        sampler.stop.set()
        sampler.join()
        r.pss_kb = sampler.peak_kb
    out.seek(0)
    r.output = out.read().decode(errors="replace")
    r.ok = p.returncode == 0
    if not r.ok:
        r.note += f" exit status {p.returncode};"
    r.cpu = cpu
    r.maxrss_kb = maxrss
    return r


# --------------------------------------------------------------------------------------------
# sshd fixtures
# --------------------------------------------------------------------------------------------

class Fleet:
    """n sshd processes on 127.0.0.<first>…, one port, each with its own host key and $HOME."""

    def __init__(self, root, name, first, n, port, client_pub):
        self.root = root / name
        self.hosts = []  # (ip, home)
        self.procs = []
        self.port = port
        self.root.mkdir()
        auth = self.root / "authorized_keys"
        auth.write_text(client_pub.read_text())
        auth.chmod(0o600)
        kh_lines = []
        for i in range(n):
            ip = f"127.0.0.{first + i}"
            d = self.root / f"h{first + i}"
            home = d / "home"
            home.mkdir(parents=True)
            key = d / "host_key"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", ip, "-f",
                            str(key)], check=True)
            key.chmod(0o600)
            kh_lines.append(f"[{ip}]:{port} " + " ".join(
                Path(f"{key}.pub").read_text().split()[:2]))
            conf = d / "sshd_config"
            conf.write_text("\n".join([
                f"ListenAddress {ip}:{port}",
                f"HostKey {key}",
                f"PidFile {d}/sshd.pid",
                f"AuthorizedKeysFile {auth}",
                "StrictModes no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "MaxSessions 100",
                "MaxStartups 100:30:200",
                "UseDNS no",
                "PrintMotd no",
                "PrintLastLog no",
                "X11Forwarding no",
                "LogLevel ERROR",
                # Own root dir per host; SHLVL=1 keeps bash from sourcing root's .bashrc
                # (pyenv init there costs ~120 ms per command).
                f"SetEnv HOME={home} SHLVL=1",
                "",
            ]))
            subprocess.run([SSHD, "-t", "-f", str(conf)], check=True)
            self.hosts.append((ip, home))
        self.known_hosts = self.root / "known_hosts"
        self.known_hosts.write_text("\n".join(kh_lines) + "\n")
        for ip, home in self.hosts:
            d = home.parent
            log = open(d / "sshd.log", "w")
            p = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            self.procs.append(p)
            fixture_pids.add(p.pid)
        for (ip, home), p in zip(self.hosts, self.procs):
            deadline = time.monotonic() + 10
            while True:
                if p.poll() is not None:
                    raise SystemExit(f"sshd for {ip} exited: "
                                     f"{(home.parent / 'sshd.log').read_text()}")
                try:
                    socket.create_connection((ip, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"sshd for {ip}:{port} does not answer")
                    time.sleep(0.02)

    def specs(self):
        return [f"root@{ip}:{self.port}" for ip, _ in self.hosts]

    def reset(self):
        for _, home in self.hosts:
            shutil.rmtree(home / "app", ignore_errors=True)

    def verify(self):
        """Did the workload really run on every host?"""
        bad = []
        for ip, home in self.hosts:
            app = home / "app"
            rev = app / "REVISION"
            cur = app / "current"
            if not (rev.is_file() and rev.read_text() == "r1\n" and cur.is_symlink()
                    and os.readlink(cur) == str(app / "releases/r1") and cur.is_dir()):
                bad.append(ip)
        return bad

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            fixture_pids.discard(p.pid)
        self.procs = []


def free_port(ips):
    for _ in range(50):
        s = socket.socket()
        s.bind((ips[0], 0))
        port = s.getsockname()[1]
        s.close()
        try:
            for ip in ips:
                t = socket.socket()
                t.bind((ip, port))
                t.close()
            return port
        except OSError:
            continue
    raise SystemExit("no free port found on all fixture addresses")


# --------------------------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, root):
        self.args = args
        self.root = root
        self.key = root / "client_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench-client",
                        "-f", str(self.key)], check=True)
        self.key.chmod(0o600)
        self.workload = root / "workload.txt"
        self.workload.write_text("\n".join(WORKLOAD) + "\n")
        self.workdir = root / "w"  # deckhand's deploy_to: exists on every "host"
        self.workdir.mkdir()
        self.counter = 0
        self.venv = None
        self.sampling = 0  # PSS sampling interval; only set for the memory run (see run_rounds)

    def fresh_dir(self, prefix):
        self.counter += 1
        d = self.root / f"{prefix}{self.counter}"
        d.mkdir()
        return d

    # ControlMaster shell loop ------------------------------------------------------------------
    def cm(self, fleet, mode):
        ctl = self.fresh_dir("c")
        env = dict(os.environ, KEY=str(self.key), KNOWN_HOSTS=str(fleet.known_hosts),
                   CTL_DIR=str(ctl), WORKLOAD=str(self.workload))
        return run_measured(["bash", str(HERE / "cm_loop.sh"), mode] + fleet.specs(), env=env,
                            sample=self.sampling)

    # deckhand ----------------------------------------------------------------------------------
    def deckhand_config(self, fleet, strategy):
        d = self.fresh_dir("d")
        (d / "config").mkdir()
        (d / "deploy.d").mkdir()
        ctl = self.fresh_dir("k")  # short control dir
        (d / "config/deckhand.toml").write_text(f"""\
# Generated by bot/benches/ssh/bench.py
[bot]
name = "deckhand"
default_env = "bench"
recipes = "../deploy.d"

[envs.bench]

[ssh]
identity_file = {toml_str(self.key)}
known_hosts = {toml_str(fleet.known_hosts)}
host_key_policy = "strict"
connect_timeout = "10s"
control_dir = {toml_str(ctl)}
""")
        rollout = 'strategy = "parallel"' if strategy == "parallel" else \
            'strategy = "rolling"\nbatch = 1'
        steps = "\n".join(
            f'[[tasks.deploy.steps]]\nname = "s{i + 1}"\nrun = {toml_str(cmd)}\n'
            for i, cmd in enumerate(WORKLOAD))
        hosts = ", ".join(toml_str(s) for s in fleet.specs())
        (d / "deploy.d/bench.toml").write_text(f"""\
# Generated by bot/benches/ssh/bench.py: the reference workload, no health check, no version probe.
description = "SSH benchmark"
default_ref = "main"
step_timeout = "1m"

[envs.bench]
hosts = [{hosts}]
{rollout}
deploy_to = {toml_str(self.workdir)}

{steps}""")
        return d

    def deckhand(self, fleet, strategy):
        d = self.deckhand_config(fleet, strategy)
        data = d / "data"
        r = run_measured([self.args.deckhand, "console", "--config",
                          str(d / "config/deckhand.toml"), "--data", str(data),
                          "--user", "alice"],
                         stdin_data=b"deploy bench to bench\n/wait\n/quit\n",
                         env=dict(os.environ, NO_COLOR="1"), sample=self.sampling)
        m = re.search(r"^\[m\d+(?: edited)?\] #\d+ bench\S* → bench: succeeded in "
                      r"((?:[\d.]+(?:ms|s|m|h) ?)+)",
                      r.output, re.M)
        if m:
            r.own_duration = parse_duration(m.group(1))
        elif r.ok:
            r.ok = False
            r.note += " the console output does not show the deploy succeeded;"
        return r

    def check_deckhand(self, fleet):
        """`deckhand check` on a generated config, so config mistakes show up before timing."""
        for strategy in ("parallel", "rolling"):
            d = self.deckhand_config(fleet, strategy)
            p = subprocess.run([self.args.deckhand, "check", "--config",
                                str(d / "config/deckhand.toml")],
                               capture_output=True, text=True)
            if p.returncode != 0:
                print(f"warning: `deckhand check` refuses the generated {strategy} config:\n"
                      f"{p.stdout}{p.stderr}", file=sys.stderr)

    # Ansible -----------------------------------------------------------------------------------
    def ansible_setup(self, fleet):
        d = self.root / f"ansible-{len(fleet.hosts)}"
        d.mkdir()
        (d / "tmp").mkdir()
        inv = ["[bench]"]
        for ip, _ in fleet.hosts:
            inv.append(f"h{ip.rsplit('.', 1)[1]} ansible_host={ip} ansible_port={fleet.port} "
                       f"ansible_user=root")
        (d / "inventory.ini").write_text("\n".join(inv) + "\n")
        (d / "ansible.cfg").write_text(f"""\
[defaults]
inventory = {d}/inventory.ini
forks = {max(3, len(fleet.hosts))}
host_key_checking = True
private_key_file = {self.key}
interpreter_python = /usr/bin/python3
retry_files_enabled = False
local_tmp = {d}/tmp
nocolor = True

[ssh_connection]
pipelining = True
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile={fleet.known_hosts} -o StrictHostKeyChecking=yes -F /dev/null
""")
        tasks = "".join(f"    - name: s{i + 1}\n      shell: {yaml_str(cmd)}\n"
                        for i, cmd in enumerate(WORKLOAD))
        (d / "playbook.yml").write_text(f"""\
# Generated by bot/benches/ssh/bench.py: the reference workload as 10 shell tasks.
- hosts: bench
  gather_facts: false
  tasks:
{tasks}""")
        return d

    def ansible(self, d):
        ctl = self.fresh_dir("a")  # fresh masters each run: ControlPersist must not carry over
        env = dict(os.environ, ANSIBLE_CONFIG=str(d / "ansible.cfg"),
                   ANSIBLE_HOME=str(d / "home"), ANSIBLE_SSH_CONTROL_PATH_DIR=str(ctl),
                   PATH=f"{self.venv}/bin:{os.environ['PATH']}")

        def close_masters():  # ControlPersist masters outlive ansible-playbook: stop them
            for s in ctl.iterdir():
                subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={s}", "-O",
                                "exit", "x"], capture_output=True)

        return run_measured([f"{self.venv}/bin/ansible-playbook", str(d / "playbook.yml")],
                            env=env, cwd=d, after=close_masters, sample=self.sampling)

    # Fabric ------------------------------------------------------------------------------------
    def fabric(self, fleet, mode, nodelay):
        argv = [f"{self.venv}/bin/python", str(HERE / "fabric_run.py"), mode,
                "--key", str(self.key), "--known-hosts", str(fleet.known_hosts),
                "--workload", str(self.workload)] + (["--nodelay"] if nodelay else [])
        return run_measured(argv + fleet.specs(), sample=self.sampling)


def toml_str(s):
    s = str(s)
    if "'''" not in s and "\n" not in s and "'" not in s:
        return f"'{s}'"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def yaml_str(s):
    return "'" + s.replace("'", "''") + "'"


def parse_duration(text):
    """deckhand's durations: 870ms, 1.2s, 1m 3s, 1m3s …"""
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)\s*(ms|s|m|h)", text):
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def ensure_venv(cache):
    venv = cache / "venv"
    py = venv / "bin/python"
    if not py.exists():
        print(f"creating {venv} and installing {' '.join(PYPI_PACKAGES)} from PyPI …",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q"] + PYPI_PACKAGES, check=True)
    vers = subprocess.run([str(py), "-c", "import importlib.metadata as m;print(' '.join("
                           "f'{p} {m.version(p)}' for p in ('ansible-core','fabric','paramiko')))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return venv, vers


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------

def last_lines(text, n=3):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " / ".join(l.strip() for l in lines[-n:])[:400]


def summarize(name, results, measure_own):
    ok = [r for r in results if r.ok]
    if not ok:
        r = results[-1] if results else None
        return {"name": name, "failed": f"failed — {last_lines(r.output) if r else '?'}"
                                        f"{(' (' + r.note.strip() + ')') if r and r.note else ''}"}
    row = {"name": name, "n": len(ok),
           "median": statistics.median(r.wall for r in ok),
           "min": min(r.wall for r in ok),
           "cpu": statistics.median(r.cpu for r in ok),
           "rss": max(r.maxrss_kb for r in ok) / 1024,
           "pss": max(r.pss_kb for r in ok) / 1024,
           "own": measure_own}
    own = [r.own_duration for r in ok if r.own_duration is not None]
    if own:
        row["deploy"] = statistics.median(own)
    if len(ok) < len(results):
        row["partial"] = f"{len(results) - len(ok)} of {len(results)} runs failed: " + \
            last_lines(next(r for r in results if not r.ok).output, 2)
    return row


def table(rows):
    out = ["| run | wall median | wall min | CPU user+sys | peak RSS (largest process) "
           "| peak PSS (tree, sampled) | notes |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        if "failed" in row:
            out.append(f"| {row['name']} | — | — | — | — | — | {row['failed']} |")
            continue
        notes = []
        if "deploy" in row:
            notes.append(f"deploy's own duration {row['deploy']:.3f} s")
        if "partial" in row:
            notes.append(row["partial"])
        out.append(f"| {row['name']} | {row['median']:.3f} s | {row['min']:.3f} s | "
                   f"{row['cpu']:.2f} s | {row['rss']:.1f} MB | "
                   f"{(format(row['pss'], '.1f') + ' MB') if row['pss'] else '—'} | "
                   f"{'; '.join(notes)} |")
    return "\n".join(out)


def ratio(rows, a, b):
    ra = next((r for r in rows if r["name"] == a), None)
    rb = next((r for r in rows if r["name"] == b), None)
    if not ra or not rb or "failed" in ra or "failed" in rb:
        bad = a if not ra or "failed" in ra else b
        return f"- {a} / {b}: n/a ({bad} did not run)"
    return f"- {a} / {b}: **{ra['median'] / rb['median']:.2f}×** " \
           f"(medians {ra['median']:.3f} s / {rb['median']:.3f} s)"


# --------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of each run (5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each first (1)")
    ap.add_argument("--hosts50", action="store_true",
                    help="also the 50-host parallel run (deckhand vs ControlMaster loop)")
    ap.add_argument("--deckhand", default=str(REPO / "target/release/deckhand"),
                    help="the deckhand binary (default: target/release/deckhand)")
    ap.add_argument("--only", default="deckhand,cm,ansible,fabric",
                    help="comma-separated subset of deckhand,cm,ansible,fabric")
    ap.add_argument("--cache", default=str(Path.home() / ".cache/deckhand-bench"),
                    help="where the Ansible/Fabric venv lives (~/.cache/deckhand-bench)")
    ap.add_argument("--sample", type=float, default=0.02,
                    help="PSS sampling interval in s, in one extra untimed run of each tool "
                         "(0: no such run)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (keys, configs, logs)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    args.deckhand = str(Path(args.deckhand).resolve())

    if not os.access(SSHD, os.X_OK):
        raise SystemExit(f"{SSHD} missing: apt-get install -y --no-install-recommends "
                         "openssh-server openssh-client")
    if "deckhand" in only and not os.access(args.deckhand, os.X_OK):
        raise SystemExit(f"{args.deckhand} missing: cargo build --release --locked")
    os.makedirs("/run/sshd", exist_ok=True)
    become_subreaper()

    # Short path: control sockets live under it (limit ~107 bytes).
    root = Path(tempfile.mkdtemp(prefix="dhb-", dir="/tmp"))
    fleets = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench = Bench(args, root)
        load0 = os.getloadavg()[0]
        info = [f"machine: {os.cpu_count()} CPUs, {platform_line()}",
                f"ssh: {subprocess.run(['ssh', '-V'], capture_output=True, text=True).stderr.strip()}"]
        if only & {"ansible", "fabric"}:
            bench.venv, vers = ensure_venv(Path(args.cache))
            info.append(f"python packages: {vers}")
        if "deckhand" in only:
            info.append(f"deckhand: {args.deckhand}")

        pubkey = Path(f"{bench.key}.pub")
        ips3 = [f"127.0.0.{i}" for i in range(2, 5)]
        ips50 = [f"127.0.0.{i}" for i in range(10, 60)] if args.hosts50 else []
        port = free_port(ips3 + ips50)
        fleet3 = Fleet(root, "fleet3", 2, 3, port, pubkey)
        fleets.append(fleet3)

        runs3 = []  # (name, fn)
        if "deckhand" in only:
            bench.check_deckhand(fleet3)
            runs3 += [("deckhand parallel", lambda: bench.deckhand(fleet3, "parallel")),
                      ("deckhand rolling batch 1", lambda: bench.deckhand(fleet3, "rolling"))]
        if "cm" in only:
            runs3 += [("ControlMaster loop, parallel", lambda: bench.cm(fleet3, "par")),
                      ("ControlMaster loop, sequential", lambda: bench.cm(fleet3, "seq"))]
        if "ansible" in only:
            ans3 = bench.ansible_setup(fleet3)
            runs3 += [("Ansible (pipelining, forks 3)", lambda: bench.ansible(ans3))]
        if "fabric" in only:
            runs3 += [
                ("Fabric ThreadingGroup", lambda: bench.fabric(fleet3, "group", False)),
                ("Fabric ThreadingGroup + TCP_NODELAY",
                 lambda: bench.fabric(fleet3, "group", True)),
                ("Fabric Connection per host, sequential",
                 lambda: bench.fabric(fleet3, "seq", False)),
                ("Fabric sequential + TCP_NODELAY", lambda: bench.fabric(fleet3, "seq", True)),
            ]
        measured3 = run_rounds(runs3, fleet3, args, bench)

        measured50 = {}
        if args.hosts50:
            fleet3.stop()
            fleet50 = Fleet(root, "fleet50", 10, 50, port, pubkey)
            fleets.append(fleet50)
            runs50 = []
            if "deckhand" in only:
                runs50.append(("deckhand parallel, 50 hosts",
                               lambda: bench.deckhand(fleet50, "parallel")))
            if "cm" in only:
                runs50.append(("ControlMaster loop, parallel, 50 hosts",
                               lambda: bench.cm(fleet50, "par")))
            measured50 = run_rounds(runs50, fleet50, args, bench)

        rows3 = [summarize(n, rs, True) for n, rs in measured3.items()]
        rows50 = [summarize(n, rs, True) for n, rs in measured50.items()]
        print()
        print(f"## SSH benchmark ({args.reps} timed runs each, interleaved; "
              f"{args.warmup} warm-up)\n")
        info.append(f"load average (1 min) at start {load0:.2f}, at end "
                    f"{os.getloadavg()[0]:.2f} (anything else running skews the figures)")
        for line in info:
            print(f"- {line}")
        print("\nWorkload: 3 hosts (sshd on 127.0.0.2–4), 10 remote commands each: "
              "mkdir -p, write REVISION, ln -sfn, true, test -d, 5 × sleep 0.1.\n")
        print(table(rows3))
        print("\nRatios (medians, this run):")
        for a, b in [("deckhand parallel", "ControlMaster loop, parallel"),
                     ("deckhand rolling batch 1", "ControlMaster loop, sequential"),
                     ("Ansible (pipelining, forks 3)", "deckhand parallel")]:
            print(ratio(rows3, a, b))
        if rows50:
            print("\n50 hosts (sshd on 127.0.0.10–59), same workload, all hosts at once:\n")
            print(table(rows50))
            print("\nRatio (medians, this run):")
            print(ratio(rows50, "deckhand parallel, 50 hosts",
                        "ControlMaster loop, parallel, 50 hosts"))
        print("\nWall = the whole process (connection setup and teardown included). CPU = "
              "user+sys of the client-side process tree (ssh masters included), median. "
              "Peak RSS = largest single process (ru_maxrss); peak PSS = summed over the live "
              f"process tree, sampled every {args.sample} s in one extra untimed run.")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for pid in our_tree():  # a tool interrupted mid-run, ssh masters it left behind
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for f in fleets:
            f.stop()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def run_rounds(runs, fleet, args, bench):
    """Warm-up, then the timed repetitions (tools interleaved), then one untimed run of each
    with PSS sampling on (sampling /proc costs CPU, so it never overlaps a timed run)."""
    results = {name: [] for name, _ in runs}
    failed_hard = set()
    plan = [("warm-up", i + 1) for i in range(args.warmup)] + \
        [("run", i + 1) for i in range(args.reps)] + ([("memory", 1)] if args.sample else [])
    for kind, num in plan:
        for name, fn in runs:
            if name in failed_hard:
                continue
            fleet.reset()
            bench.sampling = args.sample if kind == "memory" else 0
            r = fn()
            bench.sampling = 0
            if r.ok:
                bad = fleet.verify()
                if bad:
                    r.ok = False
                    r.note += f" workload not done on {', '.join(bad)};"
            status = f"{r.wall:.3f} s, CPU {r.cpu:.2f} s" if r.ok else \
                f"FAILED:{r.note} {last_lines(r.output)}"
            if kind == "memory" and r.ok:
                status += f", peak PSS {r.pss_kb / 1024:.1f} MB"
            print(f"  {name:45} {kind} {num:<3} {status}", file=sys.stderr, flush=True)
            if kind == "memory":
                if r.ok:
                    for prev in results[name]:
                        prev.pss_kb = max(prev.pss_kb, r.pss_kb)
                continue
            if kind == "run" or not r.ok:
                results[name].append(r)
            if not r.ok and kind == "warm-up":
                failed_hard.add(name)  # e.g. deckhand refusing SSH hosts: don't retry
    return results


def platform_line():
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name"))
    except (OSError, StopIteration):
        model = "?"
    return f"{model}, Linux {os.uname().release}"


if __name__ == "__main__":
    sys.exit(main())
