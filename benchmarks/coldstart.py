"""Cold start: a fresh interpreter imports the engine, loads the example model, runs it once.

Measured for numrnn, torch (`torch.load` + the module) and ONNX Runtime (an .onnx file +
`InferenceSession`) on the same SimpleRNN — RNN(3→5, tanh, batch_first) + Linear(5→2) —
plus a bare `import numpy` as the floor. Wall time is seen from the parent (spawn to exit);
peak RSS is each child's own `ru_maxrss`.

The model is the bundled example checkpoint in `numrnn/data/` when it exists (read with
`numrnn.load`); until then a checkpoint made here with torch. Each engine reads the format
its users would: numrnn the bundled file, torch a `.pt` state dict, ORT an `.onnx` export.
"""

from __future__ import annotations

import statistics
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _children import ChildFailed, run_child
from _env import REPO

import numrnn

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".npz")


class SimpleRNN(torch.nn.Module):
    """The example model: RNN(3→5, tanh, batch_first) then Linear(5→2) on the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(3, 5, batch_first=True)
        self.fc = torch.nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # [N, T, 5]
        return self.fc(out[:, -1])  # [N, 2]


def _bundled_checkpoint() -> Path | None:
    data = REPO / "numrnn" / "data"
    if not data.is_dir() or not hasattr(numrnn, "load"):
        return None
    found = sorted(p for p in data.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    return found[0] if found else None


def _prefixes(keys: list[str]) -> tuple[str, str]:
    """The state-dict prefixes of the RNN and of the Linear ('rnn.', 'fc.' in torch's tutorial)."""
    rnn = next(k for k in keys if k.endswith("weight_ih_l0"))[: -len("weight_ih_l0")]
    fc = next(k for k in keys if k.endswith("weight") and not k.startswith(rnn))[: -len("weight")]
    return rnn, fc


def prepare(workdir: Path) -> tuple[dict[str, Path], str, str, str]:
    """Write the model in each engine's format; return paths, RNN/Linear prefixes, a note."""
    model = SimpleRNN().eval()
    bundled = _bundled_checkpoint()
    if bundled is not None:
        state = numrnn.load(bundled)
        rnn_p, fc_p = _prefixes(list(state))
        model.rnn.load_state_dict({k[len(rnn_p) :]: torch.from_numpy(v)
                                   for k, v in state.items() if k.startswith(rnn_p)})
        model.fc.load_state_dict({k[len(fc_p) :]: torch.from_numpy(v)
                                  for k, v in state.items() if k.startswith(fc_p)})
        note = f"model: bundled {bundled.relative_to(REPO)}"
    else:
        torch.manual_seed(0)
        bundled = workdir / "simple_rnn.npz"
        np.savez(bundled, **{k: v.numpy() for k, v in model.state_dict().items()})
        rnn_p, fc_p = "rnn.", "fc."
        note = "model: no numrnn/data checkpoint (or numrnn.load) yet; a torch-made one in .npz"
    paths = {"ours": bundled, "pt": workdir / "simple_rnn.pt", "onnx": workdir / "simple_rnn.onnx"}
    paths["x"] = workdir / "x.npy"
    x = np.random.default_rng(0).standard_normal((1, 20, 3), dtype=np.float32)
    np.save(paths["x"], x)
    torch.save(model.state_dict(), paths["pt"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), str(paths["onnx"]), dynamo=False,
                          input_names=["x"], output_names=["y"])
    return paths, rnn_p, fc_p, note


def _numrnn_snippet(ckpt: Path, x: Path, rnn_p: str, fc_p: str) -> str:
    loader = "nn.load" if hasattr(numrnn, "load") else "np.load"
    return f"""
import numpy as np
import numrnn as nn
state = dict({loader}({str(ckpt)!r}))
rnn = nn.RNN(3, 5, batch_first=True)
fc = nn.Linear(5, 2)
rnn.load_state_dict({{k[{len(rnn_p)}:]: v for k, v in state.items() if k.startswith({rnn_p!r})}})
fc.load_state_dict({{k[{len(fc_p)}:]: v for k, v in state.items() if k.startswith({fc_p!r})}})
out, h = rnn(np.load({str(x)!r}))
y = fc(out[:, -1])
"""


def snippets(paths: dict[str, Path], rnn_p: str, fc_p: str) -> dict[str, str]:
    """The child program of each engine, keyed by the name shown in the table."""
    x = str(paths["x"])
    progs = {"import numpy": "import numpy\n"}
    if hasattr(numrnn, "RNN") and hasattr(numrnn, "Linear"):
        progs["numrnn"] = _numrnn_snippet(paths["ours"], paths["x"], rnn_p, fc_p)
        if hasattr(numrnn, "load"):
            progs["numrnn (.pt)"] = _numrnn_snippet(paths["pt"], paths["x"], "rnn.", "fc.")
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
    paths, rnn_p, fc_p, note = prepare(workdir)
    progs = snippets(paths, rnn_p, fc_p)
    if not with_ort:
        progs.pop("onnxruntime")
    notes = [note]
    if "numrnn" not in progs:
        notes.append("numrnn cold start skipped: numrnn.RNN / numrnn.Linear not there yet")
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
    return {"engines": figures, "repeats": repeats, "notes": notes}
