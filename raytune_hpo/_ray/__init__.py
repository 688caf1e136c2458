"""Everything raytune-hpo asks of Ray: the session (:mod:`.session`: starting Ray, checking the
cluster, the settings a run needs), every use of Ray Tune beyond its public API
(:mod:`.controller`) and what a trial's worker needs (:mod:`.worker`). A Ray upgrade is checked
here, and by ``tests/test_controller.py``."""
