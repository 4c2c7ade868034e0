"""synthd's training worker: `synthd worker` claims jobs from the queue and trains them."""
