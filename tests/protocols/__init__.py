"""Tests of the wire-protocol adapters."""
