"""The HIL harness's pytest plugin, for the acceptance suite in hil/acceptance/ (options
--pump-port, --balance-port, --board, --hil-seed, --hil-runtime, --hil-report)."""

pytest_plugins = ["hil.pytest_plugin"]
