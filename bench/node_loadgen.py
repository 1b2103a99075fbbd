"""Playing a workload with the Node load generator (bench/loadgen/run.js), one process per run.

The load generator reads its configuration from a JSON file and prints one JSON object a line:
a mark (`{"mark": name, ...}`) waits for one answer line, the run's figures come as
`{"result": ...}`, and `{"error": ...}` fails the run. `play` writes the configuration, answers
each mark with what `on_mark` returns (the caller takes its readings there; the mark carries the
load generator's process id as `pid`), and returns the result; the process never outlives the
call.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

from servers import BENCH, nice_prefix

RUN_JS = BENCH / "loadgen" / "run.js"


def available() -> bool:
    return (
        shutil.which("node") is not None and (BENCH / "node_modules" / "socket.io-client").is_dir()
    )


def play(
    config: dict[str, Any],
    on_mark: Callable[[dict[str, Any]], str],
    *,
    cpus: str = "",
    nice: int = 0,
) -> Any:
    """Run the load generator on `config`, answering each mark with `on_mark(mark)`; its result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="loadgen-") as cfg_file:
        json.dump(config, cfg_file)
        cfg_file.flush()
        cmd = [*nice_prefix(nice), *(["taskset", "-c", cpus] if cpus else []), "node"]
        proc = subprocess.Popen(
            [*cmd, str(RUN_JS), cfg_file.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert proc.stdin and proc.stdout
        result = None
        try:
            for line in proc.stdout:
                msg = json.loads(line)
                if "mark" in msg:
                    msg["pid"] = proc.pid
                    proc.stdin.write(on_mark(msg) + "\n")
                    proc.stdin.flush()
                elif "result" in msg:
                    result = msg["result"]
                elif "error" in msg:
                    raise RuntimeError(f"load generator: {msg['error']}")
        finally:
            try:
                proc.wait(30)
            except (
                subprocess.TimeoutExpired
            ):  # it failed midway: it must not go on beside the next run
                proc.kill()
                proc.wait()
    if result is None:
        raise RuntimeError(f"load generator exited with {proc.returncode} and no result")
    return result
