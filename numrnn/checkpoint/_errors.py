"""The two exceptions every checkpoint reader raises, and nothing else."""

from __future__ import annotations

__all__ = ["CheckpointError", "UnsafeCheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint is malformed, truncated, inconsistent or unsupported.

    Raised for bad zips, lying headers, tensors that run past their storage,
    deep nesting, unknown formats ... whatever the bytes, ``load`` raises
    nothing else.
    """


class UnsafeCheckpointError(CheckpointError):
    """A pickle asked for a global outside numrnn's allow-list.

    The message names the refused global (``os.system``, ``builtins.eval`` ...);
    nothing from the file has run when this is raised.
    """

    def __init__(self, global_name: str, detail: str = "") -> None:
        self.global_name = global_name
        message = f"refused unsafe global {global_name!r} in pickle"
        super().__init__(f"{message}: {detail}" if detail else message)
