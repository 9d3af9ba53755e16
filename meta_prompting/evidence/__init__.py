"""What people hand in: the task and the evidence locker, read and guarded."""
