"""pg_jobmon's server-side Python: autonomous log writes for PL/Python functions.

The build embeds these modules in the extension's install script; inside the server
they are loaded once per backend by the ``_load_package()`` function.
"""
