"""The soak test's harness: many jobs on the local stack under worker SIGKILLs, injected AWS faults and dropped
status events (``python -m tests.soak.run``)."""
