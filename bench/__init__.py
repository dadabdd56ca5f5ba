"""pg_jobmon's benchmark: `make bench`, or python -m bench (see __main__)."""
