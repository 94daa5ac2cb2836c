"""The CrossGuard policy pack; the rules are plain functions in `policies.py`."""
