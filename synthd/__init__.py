"""synthd's entry points: the `synthd` command (cli) and its `demo`, standing over the API (app.api) and the
worker (worker), which never import each other."""
