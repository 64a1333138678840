"""Redline: a privacy firewall for product analytics.

The public surface is small: the engine and its inputs, for embedding the
same sanitiser the gateway runs. Names are imported on first use, so that
``import redline.outbox`` does not load the detectors.
"""

from __future__ import annotations

from ._lazy import exports

__version__ = "0.1.0"

_EXPORTS = {
    "CompiledPolicy": "redline.policy",
    "ConfigError": "redline.errors",
    "Engine": "redline.engine",
    "Event": "redline.events",
    "Finding": "redline.engine",
    "Hasher": "redline.engine",
    "Kind": "redline.events",
    "RedlineError": "redline.errors",
    "RequestError": "redline.errors",
    "Result": "redline.engine",
    "Sensitive": "redline.sensitive",
    "load_policy": "redline.policy",
    "parse_policy": "redline.policy",
}

__all__ = sorted(_EXPORTS)


__getattr__ = exports("redline", _EXPORTS)
