"""The README's tutorial, run as written, so that it cannot rot.

The tutorial's first block (fenced ```` ```bash tutorial-devnet ````) is run the way its reader runs it in a first
terminal: ``./run-devnet`` in the repository root, in the foreground, stopped at the end with Ctrl-C (SIGINT to
its process group). Every other ```` ```bash tutorial ```` block is run in one second shell, top to bottom, with
``set -euo pipefail``, so a command that fails (or a shell variable the next step needs that comes out empty)
fails the test. The only differences from a reader's terminal: ``CAIRN_DEVNET`` puts the devnet under the
test's temporary folder instead of ``devnet-data`` (``cairn devnet env`` hands it on, as it does ``devnet-data``
for the reader), and the second shell starts in an empty folder holding a link to this checkout's virtual
environment, so the tutorial's files (``tutorial/``) land there. Afterwards the test checks, through the SDK,
what the tutorial says happened: the job verified, the federated task finished both rounds, the lineage
reaches the data, and the killed storage node's fragments are rebuilt elsewhere.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devnet import launcher
from devnet.launcher import wait_until
from devnet.state import DevnetState
from devnet.storage import storage_account
from runtime.keyring import Keypair
from sdk.client import Client

pytestmark = pytest.mark.long(5)  # minutes, about: started early (tests/conftest.py)


ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```bash (tutorial|tutorial-devnet)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
READY_S = 240.0
"""From ``./run-devnet`` to its "press Ctrl-C" line (about 45 s alone; the suite runs beside it)."""
STEPS_S = 1500.0
"""The second shell's commands: a training job, two federated rounds and the rest (about 5 min alone)."""
REPAIR_S = 300.0
"""From the kill to every fragment of the dataset confirmed on a running node (about 75 s alone)."""
STOP_S = 90.0
VARIABLES = ("DATA", "BLOB", "JOB", "MODEL", "BASE", "TASK")
KILL = re.compile(r"cairn devnet kill storage-(\d+)")


def tutorial() -> tuple[str, list[str]]:
    """The README's devnet block and its other tutorial blocks, in order."""
    blocks = FENCE.findall((ROOT / "README.md").read_text())
    devnet = [body for kind, body in blocks if kind == "tutorial-devnet"]
    assert len(devnet) == 1, "the README's tutorial has exactly one `bash tutorial-devnet` block"
    return devnet[0], [body for kind, body in blocks if kind == "tutorial"]


def test_the_tutorial_starts_the_devnet_with_the_readme_command_and_covers_every_step():
    devnet, steps = tutorial()
    assert devnet.strip() == "./run-devnet"
    script = "".join(steps)
    for command in ("cairn devnet env", "cairn storage put", "cairn storage grant", "cairn da submit",
                    "cairn da sample", "cairn compute submit", "cairn fl create", "cairn fl participate",
                    "cairn compute lineage", "cairn devnet kill storage-"):
        assert command in script, f"the tutorial no longer runs {command!r}"


class Terminal:
    """``./run-devnet`` in the foreground, its output collected line by line as a reader's terminal shows it."""

    def __init__(self, script: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or self._new.get(timeout=remaining) is None:
                    break
            except queue.Empty:
                break
        assert any(text in line for line in self.lines), f"no {text!r} from ./run-devnet:\n" + self.output

    def ctrl_c(self, timeout: float) -> int:
        """What the reader's Ctrl-C does: SIGINT to the terminal's foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-60:])


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CAIRN_")}
    env["CAIRN_DEVNET"] = str(tmp_path / "devnet-data")
    return env


def test_the_readme_tutorial_runs_as_written(tmp_path: Path, shell_env: dict[str, str]):
    devnet_script, steps = tutorial()
    base = Path(shell_env["CAIRN_DEVNET"])
    terminal = Terminal(devnet_script, shell_env)
    try:
        terminal.wait_for("press Ctrl-C", READY_S)
        assert any("dashboard" in line and "http://127.0.0.1:" in line for line in terminal.lines), terminal.output

        values = _run_steps(steps, tmp_path, shell_env)
        _check_what_the_tutorial_says(base, values, steps)

        assert terminal.ctrl_c(STOP_S) == 0, terminal.output
        assert "devnet stopped" in terminal.output
    finally:
        if terminal.process.poll() is None:
            os.killpg(terminal.process.pid, signal.SIGKILL)
        if (base / "devnet.json").exists():
            launcher.down(base)


def _run_steps(steps: list[str], tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """Run the tutorial's second-terminal blocks in one bash, from an empty folder; the shell variables they set."""
    shell = tmp_path / "shell"
    shell.mkdir()
    (shell / ".venv").symlink_to(Path(sys.prefix))  # the reader's checkout: `.venv/bin/cairn` from its root
    values = tmp_path / "values"
    dump = "".join(f'echo "{name}=${{{name}}}" >> {values}\n' for name in VARIABLES)
    script = "set -euxo pipefail\n" + "\n".join(steps) + dump
    log = tmp_path / "tutorial.log"
    with log.open("w") as out:
        done = subprocess.run(["bash", "-c", script], cwd=shell, env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=STEPS_S)
    assert done.returncode == 0, "the tutorial failed:\n" + "\n".join(log.read_text().splitlines()[-80:])
    return dict(line.split("=", 1) for line in values.read_text().splitlines())


def _check_what_the_tutorial_says(base: Path, values: dict[str, str], steps: list[str]) -> None:
    state = DevnetState.load(base)
    killed = Keypair.from_uri(storage_account(int(KILL.search("".join(steps)).group(1)))).public
    with Client(state.process("validator-0").url("rpc", "ws")) as client:
        job = client.compute.status(int(values["JOB"]))
        assert job.state == "Verified" and job.paid > 0
        assert len(client.storage.access_log(values["DATA"])) >= 2  # the providers' reads

        task = client.fl.status(int(values["TASK"]))
        assert task.state == "Finished" and [r.finished for r in task.history] == [True, True]
        final = client.compute.lineage(task.global_model)
        assert f"file:{values['BASE']}" in {node.id for node in final.nodes}
        trained = client.compute.lineage(values["MODEL"])
        assert f"file:{values['DATA']}" in trained.sources(f"job:{values['JOB']}", "input")

        def repaired() -> bool:
            fragments = client.storage.info(values["DATA"]).fragments
            return all(f.confirmed and f.node != killed for f in fragments)

        # The chain placed the dataset's five fragments on five of the six nodes: if the killed one holds none of
        # them, the repair to see is of the other files it holds (the model, the updates, the validation set).
        if any(f.node == killed for f in client.storage.info(values["DATA"]).fragments):
            wait_until(repaired, REPAIR_S, "the killed node's fragments of the dataset rebuilt elsewhere", 2.0)
        wait_until(lambda: sum(node.repairs_done for node in client.storage.nodes()) > 0, REPAIR_S,
                   "a repair of the killed node's fragments", 2.0)
