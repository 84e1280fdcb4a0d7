"""The fault suite (`make faults`): real processes, real faults, and what was lost. See faults/run.py."""
