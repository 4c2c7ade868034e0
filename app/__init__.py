"""synthd's HTTP service: settings, database, queue, blob store, auth and the routers."""
