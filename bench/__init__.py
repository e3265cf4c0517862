"""The hastack benchmark: ``bench/run`` (see hastack_bench.py) and its boto3 floor (floor.py)."""
