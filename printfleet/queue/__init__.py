"""Job queue: scheduling policy, dispatch and RQ tasks."""
