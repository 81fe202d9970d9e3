"""Cold start: a fresh interpreter imports the engine, loads the example model, runs it once.

Measured for numrnn, torch (`torch.load` + the module) and ONNX Runtime (an .onnx file +
`InferenceSession`) on the same SimpleRNN — RNN(3→5, tanh, batch_first) + Linear(5→2) —
plus a bare `import numpy` as the floor. Wall time is seen from the parent (spawn to exit);
peak RSS is each child's own high-water mark (see _children.py).

The model is the bundled example checkpoint `numrnn/data/simple_rnn.pt` and its input.
"""

from __future__ import annotations

import compileall
import contextlib
import io
import statistics
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _children import ChildFailed, run_child
from _env import REPO

import numrnn

DATA = REPO / "numrnn" / "data"
BUNDLED = DATA / "simple_rnn.pt"  # torch.save of the SimpleRNN's state dict
BUNDLED_IO = DATA / "simple_rnn_io.npz"  # its example input ("input": [N, T, 3])


class SimpleRNN(torch.nn.Module):
    """The example model: RNN(3→5, tanh, batch_first) then Linear(5→2) on the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(3, 5, batch_first=True)
        self.fc = torch.nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # [N, T, 5]
        return self.fc(out[:, -1])  # [N, 2]


def prepare(workdir: Path) -> tuple[dict[str, Path], str]:
    """Write the model in each engine's format and the input as .npy; return paths and a note.

    torch reads the bundled `.pt`; numrnn reads the same file with `numrnn.load` (until that
    exists, an `.npz` of the same weights); ORT reads an `.onnx` export of the same model.
    """
    # pip byte-compiles an installed package; a source checkout under
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile numrnn in every child.
    compileall.compile_dir(str(REPO / "numrnn"), quiet=1)
    model = SimpleRNN().eval()
    paths = {"x": workdir / "x.npy", "y": workdir / "y.npy", "onnx": workdir / "simple_rnn.onnx"}
    if BUNDLED.exists():
        model.load_state_dict(torch.load(BUNDLED, weights_only=True))
        paths["pt"] = BUNDLED
        note = f"cold-start model: the bundled {BUNDLED.relative_to(REPO)}"
    else:
        torch.manual_seed(0)
        paths["pt"] = workdir / "simple_rnn.pt"
        torch.save(model.state_dict(), paths["pt"])
        note = "cold-start model: no bundled checkpoint yet; a random SimpleRNN saved here"
    if hasattr(numrnn, "load"):
        paths["ours"] = paths["pt"]
    else:
        paths["ours"] = workdir / "simple_rnn.npz"
        np.savez(paths["ours"], **{k: v.numpy() for k, v in model.state_dict().items()})
        note += "; numrnn reads an .npz of it (no numrnn.load yet)"
    if BUNDLED_IO.exists():
        x = np.load(BUNDLED_IO)["input"]
    else:
        x = np.random.default_rng(0).standard_normal((4, 6, 3), dtype=np.float32)
    np.save(paths["x"], x)
    with torch.inference_mode():
        np.save(paths["y"], model(torch.from_numpy(x)).numpy())  # torch's answer, for the check
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), str(paths["onnx"]), dynamo=False,
                          input_names=["x"], output_names=["y"])
    return paths, note


def _numrnn_snippet(ckpt: Path, x: Path) -> str:
    loader = "nn.load" if hasattr(numrnn, "load") else "np.load"
    return f"""
import numpy as np
import numrnn as nn
state = dict({loader}({str(ckpt)!r}))
rnn = nn.RNN(3, 5, batch_first=True)
fc = nn.Linear(5, 2)
rnn.load_state_dict({{k[4:]: v for k, v in state.items() if k.startswith("rnn.")}})
fc.load_state_dict({{k[3:]: v for k, v in state.items() if k.startswith("fc.")}})
out, h = rnn(np.load({str(x)!r}))
y = fc(out[:, -1])
"""


def snippets(paths: dict[str, Path]) -> dict[str, str]:
    """The child program of each engine, keyed by the name shown in the table."""
    x = str(paths["x"])
    progs = {"import numpy": "import numpy\n"}
    if hasattr(numrnn, "RNN") and hasattr(numrnn, "Linear"):
        progs["numrnn"] = _numrnn_snippet(paths["ours"], paths["x"])
    progs["torch"] = f"""
import numpy as np
import torch
class SimpleRNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.RNN(3, 5, batch_first=True)
        self.fc = torch.nn.Linear(5, 2)
    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])
model = SimpleRNN()
model.load_state_dict(torch.load({str(paths["pt"])!r}, weights_only=True))
model.eval()
with torch.inference_mode():
    y = model(torch.from_numpy(np.load({x!r})))
"""
    progs["onnxruntime"] = f"""
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession({str(paths["onnx"])!r}, providers=["CPUExecutionProvider"])
y = session.run(None, {{"x": np.load({x!r})}})
"""
    return progs


def measure(workdir: Path, repeats: int, with_ort: bool) -> dict[str, Any]:
    """Median wall time (s) and peak RSS (MiB) of each engine's cold start, and notes."""
    paths, note = prepare(workdir)
    progs = snippets(paths)
    if not with_ort:
        progs.pop("onnxruntime")
    notes = [note]
    if "numrnn" not in progs:
        notes.append("numrnn cold start skipped: numrnn.RNN / numrnn.Linear not there yet")
    max_diff = None
    if "numrnn" in progs:  # fast and wrong must be caught here too (untimed run)
        check = f"\nREPORT = (float(np.abs(y - np.load({str(paths['y'])!r})).max()),)\n"
        try:
            _, (_, max_diff) = run_child(progs["numrnn"] + check)
        except ChildFailed as exc:
            notes.append(f"cold start of numrnn failed: {exc}")
            progs.pop("numrnn")
    walls: dict[str, list[float]] = {name: [] for name in progs}
    rss: dict[str, list[float]] = {name: [] for name in progs}
    failed: dict[str, str] = {}
    for r in range(repeats + 1):  # round 0 warms the file cache and is not kept
        for name, prog in progs.items():
            if name in failed:
                continue
            try:
                wall, (kib, *_) = run_child(prog)
            except ChildFailed as exc:
                failed[name] = str(exc)
                notes.append(f"cold start of {name} failed: {exc}")
                continue
            if r:
                walls[name].append(wall)
                rss[name].append(kib / 1024)
    figures = {
        name: {"wall_s": statistics.median(walls[name]), "rss_mib": statistics.median(rss[name])}
        for name in progs
        if walls[name]
    }
    return {"engines": figures, "repeats": repeats, "max_diff": max_diff, "notes": notes}
