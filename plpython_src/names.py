"""Names that other sessions see: spelled here once, for the package, the tests and the bench."""

from __future__ import annotations

# application_name of a logging connection, followed by its caller's process ID. It
# only labels the connection for people reading pg_stat_activity: nothing decides
# anything by it, since any session can take any application_name.
LOGGER_APPLICATION_PREFIX = "pg_jobmon logger for backend "

# The channel on which a change of dblink_mapping_jobmon is announced. Any role may
# NOTIFY on it, so a notification is only a reason to look, never proof of a change.
CONFIG_CHANNEL = "pg_jobmon_config"


def logger_application_name(caller_pid: int) -> str:
    """The application_name of the logging connection of backend ``caller_pid``."""
    return f"{LOGGER_APPLICATION_PREFIX}{caller_pid}"
