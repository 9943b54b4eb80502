"""Studies on a user's folder of images: the folder's task (shaped like the study's source) and the
checks a folder needs (the sizes it can serve)."""

from __future__ import annotations


from benchmark.errors import BenchmarkError
from benchmark.studies.spec import Study

def _outside_source(study: Study):
    """The zoo entry the study transfers from (the first arm's source that is not one of its own)."""
    from benchmark.zoo import get_entry, load_entries

    entries = load_entries()
    for key, arm in study.arms.items():
        src = arm.source or (study.arm(arm.like).source if arm.like else None)
        if src and src not in study.sources:
            return get_entry(src, entries)
    raise BenchmarkError(f"{study.path}: a study on a folder ('data') needs an arm whose 'source' is a zoo entry: its "
                         "images are shaped like that source's input")


def folder_task_file(study: Study) -> str:
    """Write (or refresh) the folder's task file for this study, and check its sizes fit the folder."""
    from benchmark.data import get_task
    from benchmark.data.folder_tasks import write_folder_task

    source = _outside_source(study)
    source_task = get_task(source.task, relative_to=source.folder)
    try:
        path, info = write_folder_task(study.data, source_task, name=f"study-{study.name}")
    except BenchmarkError as exc:
        raise BenchmarkError(f"{study.path}: field 'data': {exc}") from None
    room = info.trainable_per_class
    for label, arms in (("arms", study.arms),):
        for key, arm in arms.items():
            too_big = [s for s in arm.sizes if s != "all" and s > room]
            if too_big:
                raise BenchmarkError(f"{study.path}: field '{label}.{key}.sizes' has {too_big[0]} examples per class, but "
                                     f"the folder's smallest class has {room} training images once "
                                     f"{info.validation_per_class} per class are held out for tuning: lower it")
    return path
