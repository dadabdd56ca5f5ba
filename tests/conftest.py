"""pytest set-up: the cluster fixtures live in fix_cluster.py, the monitor role's in
monitoring.py."""

pytest_plugins = ("fix_cluster", "monitoring")
