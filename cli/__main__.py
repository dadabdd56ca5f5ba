"""`python -m cli`, from a checkout: the same as the installed `pg_jobmon`."""

from cli.entry import main

main()
