"""The job queue (fair order, caps, batches) and the backends that run its jobs: local worker thread or Ray Serve."""
