"""Benchmarks, run from the command line (``raytune-hpo bench ...``); each reports ratios
against an anchor measured in the same run, never absolute timings to pass or fail."""
