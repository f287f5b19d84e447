# The benchmark modules are scripts, not tests: `python test/benchmarks/run.py` runs them.
collect_ignore_glob = ["*.py"]
