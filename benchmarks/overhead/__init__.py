"""What the schedule costs per update (``overhead.py``); the GPU check times the scheduler with its timer."""
