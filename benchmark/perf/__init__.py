"""Performance: how fast the benchmark runs, measured against the field's libraries and against what a job will
cost before it starts. Every target is a ratio printed by `python -m benchmark perf`, never a timed test.

- measure: our attacks, training and evaluation side by side with torchattacks / AutoAttack / plain loops;
- passes: model passes per protocol (the fewer-passes battery against the reference AutoAttack);
- paper: the paper's CIFAR-size training and evaluation rates;
- projection: a job's projected time on this device (`--dry-run`, `study plan`).
"""
