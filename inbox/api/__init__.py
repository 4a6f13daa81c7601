"""The integrator's REST API of the inbox (DRF). Shared plumbing lives in ``inbox.api.base``."""
