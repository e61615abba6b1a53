"""A plugin that fails on import, for the integration tests."""
