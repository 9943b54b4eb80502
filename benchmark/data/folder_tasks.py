"""A user's folder of images as a task: `DATA/train/<class>/*` and `DATA/val/<class>/*` (or `test/`),
shaped like a source's input (channels, size, normalization), since a transfer keeps the source's body.

The task file is written to `$RTB_HOME/tasks/<folder name>.yaml`, where the user can edit it. A folder
that cannot serve (no train/ split, class folders that differ between splits, an empty class) is a
one-line error naming the folder to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import user_home

VALIDATION_MAX = 200   # validation images per class carved from train/ for tuning, at most
VALIDATION_SHARE = 5   # ... and at most a fifth of the smallest class


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower() or "data"


@dataclass(frozen=True)
class FolderInfo:
    root: Path
    test_split: str
    classes: list[str]
    train_counts: dict[str, int]
    test_counts: dict[str, int]

    @property
    def smallest(self) -> int:
        return min(self.train_counts.values())

    @property
    def validation_per_class(self) -> int:
        return min(VALIDATION_MAX, self.smallest // VALIDATION_SHARE)

    @property
    def trainable_per_class(self) -> int:
        """Training images per class left once the validation split is carved out (in the smallest class)."""
        return self.smallest - self.validation_per_class


def inspect_folder(data: str | Path) -> FolderInfo:
    from benchmark.data.loaders.folders import list_images

    root = Path(data).expanduser().resolve()
    if not root.is_dir():
        raise BenchmarkError(f"folder {root} does not exist: give a folder with train/<class>/ and val/<class>/")
    if not (root / "train").is_dir():
        raise BenchmarkError(f"{root} has no train/ folder: put images in {root}/train/<class>/ and "
                             f"{root}/val/<class>/ (or test/)")
    test = next((s for s in ("val", "test") if (root / s).is_dir()), None)
    if test is None:
        raise BenchmarkError(f"{root} has no val/ or test/ folder for the evaluation: add {root}/val/<class>/")
    items, classes = list_images(root / "train")
    test_items, test_classes = list_images(root / test)
    if test_classes != classes:
        raise BenchmarkError(f"{root}/train and {root}/{test} have different class folders "
                             f"({', '.join(classes)} vs {', '.join(test_classes)})")
    if len(classes) < 2:
        raise BenchmarkError(f"{root}/train has {len(classes)} class folder: a classification task needs at least 2")
    counts = {split: {c: 0 for c in classes} for split in ("train", test)}
    for split, its in (("train", items), (test, test_items)):
        for _, c in its:
            counts[split][classes[c]] += 1
        empty = [c for c, k in counts[split].items() if k == 0]
        if empty:
            raise BenchmarkError(f"class folder {root}/{split}/{empty[0]} has no images: add some or remove the folder "
                                 "from both splits")
    return FolderInfo(root, test, classes, counts["train"], counts[test])


def write_folder_task(data: str | Path, source_task, name: str | None = None,
                      validation: bool = True) -> tuple[str, FolderInfo]:
    """Write the folder's task file, shaped like `source_task`; (its path, what the folder holds)."""
    import yaml

    from benchmark.io import atomic_write_text

    info = inspect_folder(data)
    name = name or slug(info.root.name)
    task = {"name": name, "dataset": "imagefolder", "root": str(info.root),
            "splits": {"train": "train", "test": info.test_split}, "num_classes": len(info.classes),
            "image_size": source_task.image_size, "channels": source_task.channels,
            "mean": list(source_task.normalization[0]), "std": list(source_task.normalization[1])}
    if validation and info.validation_per_class >= 1:
        task["validation"] = {"n_per_class": info.validation_per_class, "seed": 0}
    task["description"] = f"The user's folder {info.root}, shaped like the source task {source_task.name}."
    path = user_home() / "tasks" / f"{name}.yaml"
    text = yaml.safe_dump(task, sort_keys=False)
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    return str(path), info
