"""The example configuration and policy Redline starts with when given none."""
