"""The `pg_jobmon` command: checks, alerts and metrics of a pg_jobmon database."""
