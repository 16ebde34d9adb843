#!/usr/bin/env bash
# The ControlMaster baseline of the SSH benchmark: a plain shell loop of `ssh`.
#
#   cm_loop.sh seq|par user@ip:port...
#
# For each host: open a master (`ssh -M -N -f`, ControlPersist so it outlives that ssh), run every
# line of $WORKLOAD as its own `ssh -S <socket> host '<line>'`, then close the master
# (`ssh -O exit`). `seq` does the hosts one after another, `par` all hosts at once (one background
# subshell per host). Opening and closing the masters is part of what is timed.
#
# Environment (set by bench.py): KEY (client private key), KNOWN_HOSTS (checked strictly),
# CTL_DIR (short directory for control sockets), WORKLOAD (one remote command per line).
set -euo pipefail
mode=$1
shift
mapfile -t cmds <"$WORKLOAD"
opts=(-F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i "$KEY"
  -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o ConnectTimeout=10)

one_host() {
  local dest=${1%:*} port=${1##*:}
  local sock="$CTL_DIR/${1//[^0-9A-Za-z]/_}"
  ssh "${opts[@]}" -p "$port" -o ControlMaster=yes -o ControlPath="$sock" \
    -o ControlPersist=yes -N -f "$dest"
  local c
  for c in "${cmds[@]}"; do
    ssh "${opts[@]}" -p "$port" -S "$sock" "$dest" "$c"
  done
  ssh -F /dev/null -S "$sock" -O exit "$dest" 2>/dev/null
}

case $mode in
seq)
  for h in "$@"; do one_host "$h"; done
  ;;
par)
  pids=()
  for h in "$@"; do
    one_host "$h" &
    pids+=($!)
  done
  rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  exit $rc
  ;;
*)
  echo "usage: $0 seq|par user@ip:port..." >&2
  exit 2
  ;;
esac
