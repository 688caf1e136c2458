"""The run table written to a CSV or Parquet file: the table ``Results.dataframe()`` returns.

A column holding values a file cannot hold as they are (a ``choice`` of lists or dicts, or of
options of mixed types, which Parquet refuses) is written as text, as the report shows it.
Parquet goes through pyarrow, which ``ray[tune]`` installs.
"""

from __future__ import annotations

import os

from raytune_hpo.errors import ConfigError
from raytune_hpo.results import Results
from raytune_hpo.tracking._parameters import label

FORMATS = ("csv", "parquet")
TABLE_FILE = "run_table"


def export_table(results: Results, format: str, output: str | None = None) -> str:
    """Write the run table as ``format`` to ``output`` (default ``DIR/run_table.<format>``);
    return the file's path."""
    if format not in FORMATS:
        raise ConfigError(f"format: unknown format {format!r}; use {' or '.join(FORMATS)}")
    path = os.path.abspath(output or os.path.join(results.path, f"{TABLE_FILE}.{format}"))
    frame = results.dataframe()
    for column in frame.columns:
        present = [v for v in frame[column] if v is not None]
        if frame[column].dtype == object and (
            len({type(v) for v in present}) > 1 or any(isinstance(v, (list, tuple, dict, set)) for v in present)
        ):
            frame[column] = [None if v is None else label(v) for v in frame[column]]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if format == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    except OSError as e:
        raise ConfigError(f"output: cannot write {path!r} ({e.strerror}); choose a writable path") from None
    return path
