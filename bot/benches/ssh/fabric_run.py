"""The Fabric peer of the SSH benchmark; run by bench.py with the venv's python.

    fabric_run.py seq|group [--nodelay] --key K --known-hosts F --workload W user@ip:port...

seq: one Connection per host, in sequence (open, run every workload line with `c.run`, close).
group: a ThreadingGroup of all hosts; each workload line runs on every host at once
(`group.run`), the next line when all hosts finished the previous one (Fabric's model).
Host keys are checked strictly against --known-hosts (paramiko RejectPolicy; Fabric's default
would be AutoAddPolicy). --nodelay connects the socket ourselves and sets TCP_NODELAY on it
before the SSH handshake (paramiko does not), which removes Nagle/delayed-ACK stalls.
"""

import argparse
import socket
import sys

import paramiko
from fabric import Config, Connection, ThreadingGroup


def connection(spec, args):
    user_host, port = spec.rsplit(":", 1)
    user, host = user_host.split("@", 1)
    kwargs = {"key_filename": args.key, "look_for_keys": False, "allow_agent": False}
    if args.nodelay:
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kwargs["sock"] = sock
    c = Connection(
        host,
        user=user,
        port=int(port),
        connect_kwargs=kwargs,
        connect_timeout=10,
        config=Config(lazy=True),  # no ~/.ssh/config, no /etc/ssh/ssh_config
    )
    c.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.client.get_host_keys().load(args.known_hosts)
    return c


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["seq", "group"])
    p.add_argument("--nodelay", action="store_true")
    p.add_argument("--key", required=True)
    p.add_argument("--known-hosts", required=True)
    p.add_argument("--workload", required=True)
    p.add_argument("hosts", nargs="+")
    args = p.parse_args()
    with open(args.workload) as f:
        cmds = [line.rstrip("\n") for line in f if line.strip()]
    if args.mode == "seq":
        for spec in args.hosts:
            c = connection(spec, args)
            try:
                for cmd in cmds:
                    c.run(cmd, hide=True)
            finally:
                c.close()
    else:
        g = ThreadingGroup.from_connections([connection(s, args) for s in args.hosts])
        try:
            for cmd in cmds:
                g.run(cmd, hide=True)  # raises GroupException if any host fails
        finally:
            g.close()


if __name__ == "__main__":
    sys.exit(main())
