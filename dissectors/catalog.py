"""Names of the flow dissectors, without importing them (the command line checks a --dissectors list before
it starts workers; dissectors/registry.py holds the classes, and a test keeps the two in step)."""

PROTOCOLS = ("enip", "enip-io", "modbus", "s7comm")
