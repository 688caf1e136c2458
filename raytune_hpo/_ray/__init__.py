"""Everything raytune-hpo asks of Ray: the session (:mod:`.session`: starting Ray, checking the
cluster, the settings a run needs) and every use of Ray Tune beyond its public API
(:mod:`.controller`). A Ray upgrade is checked here, and by ``tests/test_controller.py``."""
