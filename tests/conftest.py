"""pytest set-up: the cluster fixtures live in fix_cluster.py."""

pytest_plugins = ("fix_cluster",)
