"""Tasks as data: one small YAML file says which dataset, which classes (relabelled 0..k-1 in
the order listed), the image size and channels, the pixel statistics, where the data lives,
the validation split carved from the training data, and the protocol that fits it.

Built-in tasks live in benchmark/data/tasks/; a user's own go in `$RTB_HOME/tasks/` (or
anywhere, named by path). A folder of images becomes a target task with one such file:

    name: flowers
    dataset: imagefolder
    root: /data/flowers          # ROOT/train/<class>/*.png and ROOT/val/<class>/*.png
    image_size: 64
    channels: 3
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import user_home
from benchmark.spec import check_field, parse_dataclass, positive, read_yaml

TASK_DIR = Path(__file__).resolve().parent / "tasks"


def _classes_ok(v) -> str | None:
    if not v:
        return "must list at least two classes"
    if len(set(v)) != len(v):
        return "lists a class twice"
    return None


@dataclass(frozen=True)
class Validation:
    """Examples per class held out of the training split, for selecting hyperparameters."""

    n_per_class: int = field(metadata=check_field(positive))
    seed: int = 0


@dataclass(frozen=True)
class Pool:
    """A part of the training pool (the training split less the validation split): each class's pool is cut into
    `parts` disjoint parts of equal size by a seeded hash, and the task trains on part `part` (0-based). Two
    tasks on the same classes with different parts never share a training image: a model trained on one part
    and a transfer that draws its examples from another."""

    parts: int = field(metadata=check_field(lambda v: None if v >= 2 else "must be 2 or more"))
    part: int = field(metadata=check_field(lambda v: None if v >= 0 else "must be 0 or more"))
    seed: int = 0


@dataclass(frozen=True)
class Splits:
    train: str | None = None   # file or sub-folder under root (default: the loader's own)
    test: str | None = None


@dataclass(frozen=True)
class Task:
    name: str
    dataset: str
    image_size: int = field(metadata=check_field(positive))
    channels: int = field(metadata=check_field(lambda v: None if v in (1, 3) else "must be 1 or 3"))
    classes: list[int | str] | None = field(default=None, metadata=check_field(_classes_ok))
    num_classes: int | None = field(default=None, metadata=check_field(lambda v: None if v >= 2 else "must be 2 or more"))
    mean: list[float] | None = None
    std: list[float] | None = None
    root: str | None = None
    splits: Splits = field(default_factory=Splits)
    validation: Validation | None = None
    pool: Pool | None = None         # train on one part of the training pool only
    protocol: str | None = None
    in_memory: bool | str = "auto"
    train_size: int | None = None    # training images (informational: projected training times)
    upsample: int | None = field(default=None, metadata=check_field(positive))  # the model resizes inputs to this
    description: str = ""
    source: str = field(default="", compare=False)  # the file it came from

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.classes else int(self.num_classes or 0)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        mean = tuple(self.mean) if self.mean else (0.5,) * self.channels
        std = tuple(self.std) if self.std else (0.25,) * self.channels
        return mean, std

    def root_dir(self, data_dir: str | Path | None = None) -> Path | None:
        if data_dir:
            return Path(data_dir).expanduser()
        if self.root is None:
            return None
        root = Path(self.root).expanduser()
        return root if root.is_absolute() or not self.source else Path(self.source).parent / root


def task_dirs() -> list[Path]:
    return [TASK_DIR, user_home() / "tasks"]


def available_tasks() -> list[str]:
    return sorted({p.stem for d in task_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def parse_task(data, where: str) -> Task:
    import benchmark.data.loaders  # noqa: F401  (registers the loaders)
    from benchmark.data.datasets import DATASETS

    task = parse_dataclass(Task, data, where)
    task = Task(**{**task.__dict__, "source": where})
    if task.dataset not in DATASETS:
        raise BenchmarkError(f"{where}: field 'dataset': {DATASETS.unknown(task.dataset)}")
    for key in ("mean", "std"):
        stats = getattr(task, key)
        if stats is not None and len(stats) != task.channels:
            raise BenchmarkError(f"{where}: field '{key}' must give {task.channels} value(s), one per channel")
    if task.std and min(task.std) <= 0:
        raise BenchmarkError(f"{where}: field 'std' must be positive")
    if task.pool is not None and task.pool.part >= task.pool.parts:
        raise BenchmarkError(f"{where}: field 'pool.part' must be below pool.parts ({task.pool.parts}), got "
                             f"{task.pool.part}")
    if task.in_memory not in (True, False, "auto"):
        raise BenchmarkError(f"{where}: field 'in_memory' must be true, false or auto")
    if task.classes is None and task.num_classes is None:
        counted = _count_folder_classes(task)
        if counted is None:
            raise BenchmarkError(f"{where}: missing field 'num_classes' (or list 'classes')")
        task = Task(**{**task.__dict__, "num_classes": counted})
    return task


def _count_folder_classes(task: Task) -> int | None:
    if task.dataset != "imagefolder" or task.root_dir() is None:
        return None
    train = task.root_dir() / (task.splits.train or "train")
    if not train.is_dir():
        return None
    return sum(1 for d in train.iterdir() if d.is_dir() and not d.name.startswith("."))


def load_task_file(path: Path) -> Task:
    data = read_yaml(path, "task file")
    return parse_task(data, str(path))


def get_task(name: str, relative_to: str | Path | None = None) -> Task:
    """A task by name (built-in or the user's), or by path to its YAML file."""
    candidates = []
    if name.endswith((".yaml", ".yml")):
        path = Path(name).expanduser()
        if not path.is_absolute() and relative_to is not None:
            candidates.append(Path(relative_to) / path)
        candidates.append(path)
    else:
        candidates += [d / f"{name}.yaml" for d in task_dirs()]
    for path in candidates:
        if path.is_file():
            return load_task_file(path)
    raise BenchmarkError(f"unknown task {name!r}: choose one of {', '.join(available_tasks())}, "
                         f"or write a task file (see benchmark/data/tasks/)")


def load_split(task: Task, train: bool, data_dir: str | Path | None = None, download: bool = True):
    """The task's train or test split, with its classes relabelled 0..k-1."""
    from benchmark.data.datasets import load_dataset

    ds = load_dataset(task.dataset, train, task.root_dir(data_dir), download,
                      path=task.splits.train if train else task.splits.test, image_size=task.image_size,
                      channels=task.channels, options={"in_memory": task.in_memory})
    if task.classes is not None:
        ds = ds.relabel(_class_mapping(task, ds))
    shape = tuple(ds.images.shape[1:]) if hasattr(ds, "images") else None
    if shape is not None and shape != task.input_shape:
        raise BenchmarkError(f"task {task.name}: its {'train' if train else 'test'} images have shape {shape}, "
                             f"but the task file says {task.input_shape}: fix 'image_size'/'channels'")
    if len(ds) == 0:
        raise BenchmarkError(f"task {task.name}: its {'train' if train else 'test'} split holds no images")
    return ds


def _class_mapping(task: Task, ds) -> dict[int, int]:
    names = getattr(ds, "class_names", None)
    mapping = {}
    for new, cls in enumerate(task.classes):
        if isinstance(cls, str):
            if not names or cls not in names:
                raise BenchmarkError(f"task {task.name}: class {cls!r} is not in the dataset "
                                     f"(classes: {', '.join(names or [])})")
            mapping[names.index(cls)] = new
        else:
            mapping[int(cls)] = new
    return mapping
