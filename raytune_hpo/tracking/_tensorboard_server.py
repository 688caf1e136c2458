"""``raytune-hpo tensorboard``: TensorBoard on one or more experiment directories.

TensorBoard runs in this process through its own program API (``tensorboard.program``, what
the ``tensorboard`` command runs), so the URL printed is the one it bound to, and a port in
use is one line, not a traceback. It is bound to 127.0.0.1 unless a host is given: an
experiment's configurations and metrics are not for everyone on the network.
"""

from __future__ import annotations

import os
import time

from raytune_hpo.errors import ConfigError
from raytune_hpo.results import read_meta


def logdir_flags(directories: list[str]) -> list[str]:
    """TensorBoard's flags for the experiments: ``--logdir DIR`` for one; for several,
    ``--logdir_spec name:DIR,...``, each named after its directory (``-2``, ``-3`` added where
    two share a name), so their trials stay apart."""
    paths = []
    for directory in directories:
        read_meta(directory)  # a ConfigError in one line where it is not an experiment
        paths.append(os.path.abspath(directory))
    if len(paths) == 1:
        return ["--logdir", paths[0]]
    specs, names = [], set()
    for path in paths:
        if "," in path:
            raise ConfigError(
                f"{path!r}: TensorBoard cannot take a path with a comma among several "
                "experiments; open this one alone, or rename its directory"
            )
        name, n = os.path.basename(path), 2
        while name in names:
            name, n = f"{os.path.basename(path)}-{n}", n + 1
        names.add(name)
        specs.append(f"{name}:{path}")
    return ["--logdir_spec", ",".join(specs)]


def serve(directories: list[str], port: int | None = None, host: str | None = None) -> None:
    """Start TensorBoard on the experiments, print its URL, and serve until Ctrl-C. Without
    a port, TensorBoard takes the first free one from 6006 on."""
    import absl.logging
    from tensorboard import default, program

    flags = logdir_flags(directories) + ["--host", host or "127.0.0.1"]
    if port is not None:
        flags += ["--port", str(port)]
    absl.logging.set_verbosity(absl.logging.WARNING)  # as the tensorboard command does
    board = program.TensorBoard(plugins=default.get_plugins())
    board.configure(argv=["", *flags])
    try:
        url = board.launch()
    except program.TensorBoardServerException as e:
        raise ConfigError(f"tensorboard: {e.msg}") from None
    print(f"TensorBoard at {url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
