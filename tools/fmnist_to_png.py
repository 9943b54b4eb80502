"""Write the embedded target task (Fashion-MNIST classes 5-9) as an ImageNet-style folder of PNG
files, `OUT/train/<class>/*.png` and `OUT/val/<class>/*.png`: a stand-in for "a folder of your
own images", to try `python -m benchmark transfer --data OUT` offline.

    python tools/fmnist_to_png.py /tmp/my_shoes --train-per-class 200 --val-per-class 100
    python tools/fmnist_to_png.py /tmp/four --classes sandal sneaker bag ankle_boot   # fewer classes
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from benchmark.data import get_task, load_split

NAMES = ["sandal", "shirt", "sneaker", "bag", "ankle_boot"]  # Fashion-MNIST classes 5-9


def write(out: Path, train_per_class: int, val_per_class: int, classes: list[str] | None = None) -> None:
    task = get_task("fmnist-tgt")
    for split, train, k in (("train", True, train_per_class), ("val", False, val_per_class)):
        data = load_split(task, train)
        for c, name in enumerate(NAMES):
            if classes and name not in classes:
                continue
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(data.images[data.labels == c][:k]):
                Image.fromarray(img[0].numpy(), mode="L").save(folder / f"{i:05d}.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--train-per-class", type=int, default=200)
    p.add_argument("--val-per-class", type=int, default=100)
    p.add_argument("--classes", nargs="+", choices=NAMES, default=None, help="only these classes (default: all 5)")
    a = p.parse_args()
    write(a.out, a.train_per_class, a.val_per_class, a.classes)
    print(f"wrote {a.out}/train and {a.out}/val ({len(a.classes or NAMES)} classes)")


if __name__ == "__main__":
    main()
