#!/usr/bin/env bash
# Starts, stops or inspects a one-node Slurm cluster on localhost (munged, slurmctld, slurmd) kept in STATE_DIR.
#
# Usage: local_cluster.sh start|stop|status STATE_DIR
#   start   writes a munge key and slurm.conf under STATE_DIR, starts the three daemons in the background,
#           records their PIDs in STATE_DIR/pids and waits until the node is idle. Prints the line to source
#           for the client commands (SLURM_CONF). On failure it prints the daemons' logs and stops them.
#   stop    cancels this cluster's jobs, sends TERM to the recorded PIDs (in parallel: each daemon takes about
#           2 s to exit), waits, and KILLs what is left. Never stops anything by name.
#   status  says which recorded daemons run and shows the node state.
# Environment: LOCAL_SLURM_PORT (slurmctld port, slurmd uses the next one; default 6817),
#              LOCAL_SLURM_CPUS (CPUs the node advertises; default nproc).
# Needs Debian's slurm-wlm and munge (scripts/setup.sh slurm). No systemd, cgroups or slurmdbd are used.
# Facts behind the settings: /work/shared/notes/slurm-local.md (MinJobAge=5 so `sbatch --wait` returns
# promptly, batch_sched_delay=0 so array tasks do not start in 3 s waves, --origin for unresolvable hosts).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|status STATE_DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
action="$1"
mkdir -p "$2"
state="$(cd "$2" && pwd)"

port="${LOCAL_SLURM_PORT:-6817}"
slurmd_port=$((port + 1))
conf="$state/slurm.conf"
pids="$state/pids"
logs="$state/log"
host="$(hostname -s 2>/dev/null || hostname)"
user="$(id -un)"

# The recorded daemons: one "name pid" line each.
recorded_pid() { awk -v n="$1" '$1 == n {print $2}' "$pids" 2>/dev/null || true; }

# True when pid still runs the daemon we started (guards against a recycled PID).
is_our_daemon() {
  local name="$1" pid="$2"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}

print_logs() {
  local f
  for f in "$logs"/*.log; do
    [ -e "$f" ] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$f" >&2
  done
}

stop_daemons() {
  [ -f "$pids" ] || { echo "local_cluster: nothing recorded in $pids" >&2; return 0; }
  # Cancel running jobs first: slurmd leaves job steps running when it exits.
  if is_our_daemon slurmctld "$(recorded_pid slurmctld)"; then
    SLURM_CONF="$conf" timeout 5 scancel --user="$user" >/dev/null 2>&1 || true
  fi
  local name pid alive=()
  for name in slurmd slurmctld munged; do
    pid="$(recorded_pid "$name")"
    if is_our_daemon "$name" "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      alive+=("$name:$pid")
    fi
  done
  # Wait for all of them together, up to 10 s, then KILL the rest.
  local waited=0 still
  while [ ${#alive[@]} -gt 0 ] && [ $waited -lt 100 ]; do
    still=()
    for entry in "${alive[@]}"; do
      is_our_daemon "${entry%%:*}" "${entry##*:}" && still+=("$entry")
    done
    alive=("${still[@]+"${still[@]}"}")
    [ ${#alive[@]} -gt 0 ] || break
    sleep 0.1
    waited=$((waited + 1))
  done
  for entry in "${alive[@]+"${alive[@]}"}"; do
    echo "local_cluster: ${entry%%:*} (pid ${entry##*:}) ignored TERM; sending KILL" >&2
    kill -KILL "${entry##*:}" 2>/dev/null || true
  done
  rm -f "$pids"
}

# Something accepts connections on the port (bash's /dev/tcp: no dependency on ss or netstat).
port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

start() {
  local name
  for name in munged slurmctld slurmd sbatch scontrol sinfo; do
    command -v "$name" >/dev/null 2>&1 || {
      echo "local_cluster: '$name' not found; install slurm-wlm and munge (bash scripts/setup.sh slurm)" >&2
      exit 1
    }
  done
  if [ -f "$pids" ]; then
    for name in munged slurmctld slurmd; do
      if is_our_daemon "$name" "$(recorded_pid "$name")"; then
        echo "local_cluster: $name already runs from $state (pid $(recorded_pid "$name")); stop it first" >&2
        exit 1
      fi
    done
    rm -f "$pids"
  fi
  for p in "$port" "$slurmd_port"; do
    if port_in_use "$p"; then
      echo "local_cluster: port $p is already in use (another Slurm?); set LOCAL_SLURM_PORT to a free port" >&2
      exit 1
    fi
  done

  # munged checks permissions: key, seed and log in a 0700 directory, the socket directory must be o+x.
  mkdir -p "$state/munge" "$state/munge-run" "$logs" "$state/ctld" "$state/spool"
  chmod 0700 "$state/munge"
  chmod 0755 "$state/munge-run" "$state"
  if [ ! -s "$state/munge/munge.key" ]; then
    (umask 077 && dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none)
  fi
  chmod 0600 "$state/munge/munge.key"
  local socket="$state/munge-run/munge.socket.2"

  local cpus="${LOCAL_SLURM_CPUS:-$(nproc)}"
  local memory
  memory="$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n 1)"
  memory="${memory:-1024}"

  cat >"$conf" <<CONF
# One-node Slurm cluster on localhost, written by scripts/slurm/local_cluster.sh.
ClusterName=bnlablocal
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MinJobAge=5
SchedulerParameters=batch_sched_delay=0
MailProg=/bin/true
SlurmdParameters=config_overrides
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  echo "export SLURM_CONF=$conf" >"$state/env"

  : >"$pids"
  munged --foreground --force --origin=127.0.0.1 --socket="$socket" --key-file="$state/munge/munge.key" \
    --seed-file="$state/munge/munged.seed" --pid-file="$state/munge/munged.pid" \
    --log-file="$logs/munged.log" </dev/null >>"$logs/munged.log" 2>&1 &
  echo "munged $!" >>"$pids"
  # slurmctld talks to munged at once: wait for the socket.
  local i
  for i in $(seq 50); do
    [ -S "$socket" ] && break
    sleep 0.05
  done
  slurmctld -D -f "$conf" </dev/null >>"$logs/slurmctld.stdout.log" 2>&1 &
  echo "slurmctld $!" >>"$pids"
  slurmd -D -f "$conf" -N "$host" </dev/null >>"$logs/slurmd.stdout.log" 2>&1 &
  echo "slurmd $!" >>"$pids"

  # Wait for the node to come up idle (about 0.3-0.5 s here), up to 20 s.
  local node_state=""
  for i in $(seq 200); do
    for name in munged slurmctld slurmd; do
      if ! is_our_daemon "$name" "$(recorded_pid "$name")"; then
        echo "local_cluster: $name exited during start-up" >&2
        print_logs
        stop_daemons
        exit 1
      fi
    done
    node_state="$(SLURM_CONF="$conf" sinfo -h -N -n "$host" -o %T 2>/dev/null || true)"
    [ "$node_state" = "idle" ] && break
    sleep 0.1
  done
  if [ "$node_state" != "idle" ]; then
    echo "local_cluster: node $host did not become idle within 20 s (state: '${node_state:-unknown}')" >&2
    print_logs
    stop_daemons
    exit 1
  fi
  echo "local_cluster: running in $state (node $host, $cpus CPUs, port $port); pids in $pids"
  echo "export SLURM_CONF=$conf"
}

status() {
  local name pid rc=0
  for name in munged slurmctld slurmd; do
    pid="$(recorded_pid "$name")"
    if is_our_daemon "$name" "$pid"; then
      echo "$name: running (pid $pid)"
    else
      echo "$name: not running"
      rc=1
    fi
  done
  if [ $rc -eq 0 ]; then
    SLURM_CONF="$conf" sinfo -N -n "$host" || rc=1
  fi
  return $rc
}

case "$action" in
  start) start ;;
  stop) stop_daemons && echo "local_cluster: stopped" ;;
  status) status ;;
  *) usage ;;
esac
