"""Progress of an evaluation, saved after every batch of every attack, so that a killed evaluation
continues where it stopped and gives the record an uninterrupted run gives.

The state lives in a folder beside the record (`seed0.json.partial/`): the per-example
outcomes so far, the attack and batch to do next, and the global RNG state. Every attack
seeds its own randomness per call (our PGD and APGD, the reference AutoAttack), so a batch
redone from its start takes the same steps it would have taken. Adversarial examples kept
for the record's audit file (`--save-adversarial`) are written one file per batch, so a
checkpoint never rewrites what an earlier one saved. A folder whose key (protocol, weights,
examples, options) differs from the evaluation's is ignored and replaced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from benchmark.io import atomic_torch_save

STATE = "state.pt"


class EvalCheckpoint:
    def __init__(self, folder: Path | str, key: dict):
        self.folder = Path(folder)
        self.key = json.loads(json.dumps(key, sort_keys=True, default=str))

    def load(self) -> dict | None:
        """The saved state when it belongs to this evaluation, else None (a stale folder is removed)."""
        path = self.folder / STATE
        if not path.is_file():
            return None
        try:
            state = torch.load(path, weights_only=False)
        except Exception:  # a state file cut short by a crash of the file system itself: start again
            state = None
        if not state or state.get("key") != self.key:
            self.clear()
            return None
        return state

    def save(self, state: dict) -> None:
        atomic_torch_save(self.folder / STATE, {**state, "key": self.key, "rng": torch.get_rng_state()})

    def save_adversarial(self, attack: int, lo: int, index: torch.Tensor, x_adv: torch.Tensor, name: str) -> None:
        if index.numel():
            atomic_torch_save(self.folder / f"adv-{attack:02d}-{lo:07d}.pt",
                              {"index": index.cpu(), "x_adv": x_adv.detach().float().cpu().contiguous(),
                               "attack": name})

    def adversarial_parts(self) -> list[dict]:
        return [torch.load(p, weights_only=False) for p in sorted(self.folder.glob("adv-*.pt"))]

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def restore_rng(state: dict) -> None:
    if state.get("rng") is not None:
        torch.set_rng_state(state["rng"])
