"""Studies: the benchmark's experiment as data (arms x data sizes x seeds, fixed in advance), expanded
into zoo entries, planned as jobs, run on one machine or a Slurm cluster, and reported."""

from benchmark.studies.catalog import expand, find_study, load_study, parts, study_files, write_entries
from benchmark.studies.spec import Study, load_study_file, parse_study

__all__ = ["Study", "expand", "find_study", "load_study", "load_study_file", "parse_study", "parts", "study_files",
           "write_entries"]
