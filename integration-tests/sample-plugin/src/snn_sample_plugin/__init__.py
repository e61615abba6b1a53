"""A sample third-party plugin for snn-core, used by the integration tests."""
