"""A throw-away single-node SLURM cluster on localhost for tests (Debian's slurm-wlm and munge).

`start_cluster(state_dir)` installs the packages when missing (root with apt-get only), starts munged
(unless one already answers), slurmctld and slurmd with their state, logs and pid files under
``state_dir``, declares one fake ``gpu`` GRES, and waits until the node is idle. `Cluster.stop()`
ends only the daemons it started, by their pid files, and removes the configuration it wrote.
Anything that prevents a cluster raises `SlurmUnavailable` with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PARTITION = "main"
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
# slurm.conf must sit at the compiled-in default path: the plugin's job step drops SLURM_CONF.
CONF_DIR = Path("/etc/slurm")
CONF_FILES = ("slurm.conf", "gres.conf", "cgroup.conf")
MARKER = "# written by neuropeft tests/workflow/slurm_cluster.py"
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
MUNGE_PID = Path("/run/munge/munged.pid")


class SlurmUnavailable(RuntimeError):
    """A SLURM test cluster cannot be started here; the message says why."""


@dataclass
class Cluster:
    """A running test cluster: its partition, node size, and the daemons this process started."""

    state_dir: Path
    node: str
    cpus: int
    memory_mb: int
    partition: str = PARTITION
    pid_files: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons started here (by pid file), remove our config."""
        subprocess.run(["scancel", f"--partition={self.partition}"], capture_output=True, timeout=30)
        for pid_file in reversed(self.pid_files):
            _stop_pid_file(pid_file)
        for name in CONF_FILES:
            path = CONF_DIR / name
            if path.is_file() and MARKER in path.read_text():
                path.unlink()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the daemons' logs, for failure messages."""
        parts = []
        for log in sorted((self.state_dir / "log").glob("*.log")):
            parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)


def _run(*cmd: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kwargs)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_pid_file(pid_file: Path, wait: float = 15) -> None:
    """SIGTERM the process named in ``pid_file``, then SIGKILL it if it has not exited in ``wait`` s."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.2)


def _running(name: str) -> list[int]:
    """Process ids whose command name is ``name`` (read from /proc; nothing is signalled)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def ensure_installed() -> None:
    """Install Debian's SLURM and munge packages when missing (root with apt-get only)."""
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("SLURM is not installed and installing it needs root")
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("SLURM is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    for cmd in (["apt-get", "update", "-qq"], install):
        result = _run(*cmd, timeout=600, env=env)
        if result.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")
    if not shutil.which("slurmctld"):
        raise SlurmUnavailable(f"apt-get installed {' '.join(PACKAGES)} but slurmctld is not on PATH")


def _munge_works() -> bool:
    if not MUNGE_SOCKET.exists():
        return False
    cred = _run("munge", "-n", timeout=10)
    return cred.returncode == 0 and _run("unmunge", input=cred.stdout, timeout=10).returncode == 0


def _start_munge() -> Path | None:
    """Start munged unless one already answers; its pid file when started here, else None."""
    if _munge_works():
        return None
    if not MUNGE_KEY.is_file() or MUNGE_KEY.stat().st_size == 0:
        result = _run("mungekey", "--create")
        if result.returncode != 0:
            raise SlurmUnavailable(f"mungekey --create failed: {result.stderr.strip()}")
    shutil.chown(MUNGE_KEY, "munge", "munge")
    MUNGE_KEY.chmod(0o400)
    MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
    result = _run("runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force")
    if result.returncode != 0 or not _munge_works():
        raise SlurmUnavailable(f"munged did not start: {result.stderr.strip()}")
    return MUNGE_PID


def _write_config(state_dir: Path, node: str, cpus: int, memory_mb: int) -> None:
    conf = f"""{MARKER}
ClusterName=neuropeft-test
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={state_dir}/state
SlurmdSpoolDir={state_dir}/spool
SlurmctldPidFile={state_dir}/slurmctld.pid
SlurmdPidFile={state_dir}/slurmd.pid
SlurmctldLogFile={state_dir}/log/slurmctld.log
SlurmdLogFile={state_dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    (CONF_DIR / "slurm.conf").write_text(conf)
    (CONF_DIR / "gres.conf").write_text(f"{MARKER}\nAutoDetect=off\nNodeName={node} Name=gpu Count=1 File=/dev/null\n")
    (CONF_DIR / "cgroup.conf").write_text(f"{MARKER}\nIgnoreSystemd=yes\n")


def _check_free() -> None:
    """Refuse to touch a SLURM setup that is not ours; stop daemons an interrupted earlier run left."""
    for name in CONF_FILES:
        path = CONF_DIR / name
        if path.exists() and MARKER not in path.read_text(errors="replace"):
            raise SlurmUnavailable(f"{path} exists and was not written by this test; not overwriting it")
    previous = CONF_DIR / "slurm.conf"
    if previous.is_file():
        for pid_file in re.findall(r"^Slurm(?:ctld|d)PidFile=(.+)$", previous.read_text(), re.M):
            _stop_pid_file(Path(pid_file))
    for daemon in ("slurmctld", "slurmd"):
        if pids := _running(daemon):
            raise SlurmUnavailable(f"{daemon} is already running (pid {pids[0]}); the test starts its own cluster")


def _wait_idle(cluster: Cluster, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    states = ""
    while time.monotonic() < deadline:
        states = _run("sinfo", "-h", "-N", "-o", "%t", timeout=10).stdout.split()
        if "idle" in states:
            return
        time.sleep(1)
    raise SlurmUnavailable(f"the node did not become idle in {timeout:.0f} s (state {states}):\n{cluster.log_tail()}")


def start_cluster(state_dir: Path) -> Cluster:
    """Install if needed and start a one-node cluster (partition ``main``, one fake GPU)."""
    if os.name != "posix" or not Path("/proc").is_dir():
        raise SlurmUnavailable("the SLURM test cluster needs Linux")
    ensure_installed()
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting the SLURM test cluster needs root (SlurmUser=root, munged as munge)")
    _check_free()
    node = socket.gethostname().split(".")[0]
    # At least 4 CPUs (config_overrides allows more than the machine has): a subject group job asks for
    # 2 (tensor fit and registration side by side) but mostly runs one step at a time.
    cpus = max(os.cpu_count() or 1, 4)
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    for sub in ("state", "spool", "log"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    cluster = Cluster(state_dir=state_dir, node=node, cpus=cpus, memory_mb=memory_mb)
    try:
        if munge_pid := _start_munge():
            cluster.pid_files.append(munge_pid)
        _write_config(state_dir, node, cpus, memory_mb)
        for daemon in ("slurmctld", "slurmd"):
            result = _run(daemon, timeout=30)
            pid_file = state_dir / f"{daemon}.pid"
            for _ in range(50):
                if pid_file.is_file() and pid_file.read_text().strip():
                    break
                time.sleep(0.1)
            if result.returncode != 0 or not pid_file.is_file():
                raise SlurmUnavailable(f"{daemon} did not start: {result.stderr.strip()}\n{cluster.log_tail()}")
            cluster.pid_files.append(pid_file)
        _wait_idle(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster
