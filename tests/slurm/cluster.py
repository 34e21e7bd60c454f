"""A single-node Slurm on localhost for the tests, from Debian's packages slurm-wlm and munge.

Everything lives in one folder: slurm.conf, munge's key and socket, the controller's state, the
daemons' logs. The config works without cgroups (a container): processes are tracked through /proc
(proctrack/linuxproc), tasks are not bound (task/none), nothing is gathered or stored for accounting,
so `sacct` fails as it does on many small clusters. The node has this machine's CPUs and memory.
The daemons run in the foreground as children of the test process, which stops them at the end (and
the kernel, should the test process be killed).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo", "scontrol", "sacct", "srun")
PACKAGES = "slurm-wlm munge"
PARTITION = "debug"  # the default partition
HELD_PARTITION = "held"  # the same node, but down: jobs submitted there wait until moved to PARTITION
MAX_MINUTES = 120  # the partitions' MaxTime, above the default executor.timeout_min
PR_SET_PDEATHSIG = 1  # linux/prctl.h
START_SECONDS = 60.0
STOP_SECONDS = 30.0


def end_with_parent() -> None:
    """In a daemon's process before it starts: SIGTERM when the test process ends, however it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def missing_commands() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]


def why_not_installable() -> str | None:
    """Why the packages cannot be installed here (None: they can, as root with apt-get)."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("apt-get") is None:
        return "no apt-get"
    return None


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now: each test process's cluster has its own."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def node_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 512  # what slurmd -C reports, less a margin for the system
    raise RuntimeError("no MemTotal in /proc/meminfo")


def slurm_conf(folder: Path, node: str, cpus: int, memory_mb: int, ports: list[int]) -> str:
    return f"""ClusterName=bilintest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/log/slurmctld.log
SlurmdLogFile={folder}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
KillWait=5
EnforcePartLimits=ALL
DefMemPerCPU=512
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime={MAX_MINUTES} State=UP
PartitionName={HELD_PARTITION} Nodes={node} MaxTime={MAX_MINUTES} State=DOWN
"""


@dataclass
class LocalSlurm:
    folder: Path
    conf: Path = field(init=False)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.conf = self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self) -> None:
        self.folder.chmod(0o755)  # munged (user munge) reaches its folder inside
        for sub in ("state", "spool", "log"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        node = socket.gethostname().split(".")[0]
        cpus = len(os.sched_getaffinity(0))
        self.conf.write_text(slurm_conf(self.folder, node, cpus, node_memory_mb(), free_ports(2)))
        try:
            self._start_munge()
            for daemon in ("slurmctld", "slurmd"):  # -D: in the foreground, so they are ours to stop
                log = (self.folder / "log" / f"{daemon}.out").open("wb")
                self.processes[daemon] = subprocess.Popen(
                    [daemon, "-D", "-f", str(self.conf)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    preexec_fn=end_with_parent,
                )
            self._wait_until_idle(node)
        except BaseException:
            self.stop()
            raise

    def _start_munge(self) -> None:
        """munged as the user munge, with a key of its own (the system's, or a new one) and its own socket."""
        munge = self.folder / "munge"
        munge.mkdir(mode=0o755, exist_ok=True)  # the socket's folder must be reachable by everyone
        key = munge / "munge.key"
        if Path("/etc/munge/munge.key").is_file():
            shutil.copyfile("/etc/munge/munge.key", key)
        else:
            subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
        key.chmod(0o400)
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        self.processes["munged"] = subprocess.Popen(
            [
                "munged",
                "--foreground",
                f"--key-file={key}",
                f"--socket={munge}/munge.socket",
                f"--log-file={munge}/munged.log",
                f"--pid-file={munge}/munged.pid",
                f"--seed-file={munge}/munged.seed",
            ],
            user="munge",
            group="munge",
            extra_groups=[],
            preexec_fn=end_with_parent,
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "log" / "munged.out").open("wb"),
        )
        self._wait_for(lambda: (munge / "munge.socket").exists(), "munged's socket")

    def _wait_until_idle(self, node: str) -> None:
        def idle() -> bool:
            said = self.run("sinfo", "-h", "-n", node, "-o", "%t", check=False)
            return said.returncode == 0 and said.stdout.strip().splitlines()[:1] == ["idle"]

        self._wait_for(idle, f"the node {node} to be idle")

    def _wait_for(self, condition, what: str, seconds: float = START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            ended = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
            if ended or time.monotonic() > deadline:
                raise RuntimeError(f"local Slurm: gave up waiting for {what}; ended: {ended}; {self.logs()}")
            time.sleep(0.1)

    def logs(self) -> str:
        tails = []
        for path in sorted((self.folder / "log").glob("*")) + sorted((self.folder / "munge").glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-5:]
            tails.append(f"{path.name}: " + " | ".join(lines))
        return "; ".join(tails)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, check=check, timeout=30)

    def jobs(self) -> dict[str, str]:
        """Every job the controller knows (array tasks one by one), with its state."""
        said = self.run("squeue", "-h", "-r", "-t", "all", "-o", "%i|%T")
        return dict(line.split("|", 1) for line in said.stdout.split())

    def stop(self) -> None:
        """Cancel every job and wait for them to end, then stop the daemons (slurmd before the controller,
        munged last); a daemon that does not end is killed. No process is left behind."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            ended = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL")
            try:
                self.run("scancel", "--full", *self.jobs(), check=False)
                deadline = time.monotonic() + STOP_SECONDS
                while any(s not in ended for s in self.jobs().values()) and time.monotonic() < deadline:
                    time.sleep(0.2)
            except (subprocess.SubprocessError, OSError, ValueError):
                pass  # the daemons are stopped below all the same
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
