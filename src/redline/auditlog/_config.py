"""The audit log as the configuration asks for it: where, which key, how
durable. Shared by the gateway (which writes) and the CLI (which reads)."""

from __future__ import annotations

from pathlib import Path

from ..config import AuditLogSpec, Config, SecretSpec
from ..errors import ConfigError
from ..sensitive import Sensitive
from ._files import log_files
from ._key import LOCAL_KEY_FILE, LOCAL_KEY_ID, AuditKey, local_key
from ._writer import AuditLog, AuditLogBusy


def audit_dir(config: Config) -> Path:
    """The data directory itself unless the config says otherwise: the
    files (``audit-NNNNNN.jsonl``, ``audit.head``) sit beside the outbox."""
    spec = config.spec.audit_log
    if spec.directory is None:
        return config.data_dir
    return (config.base_dir / spec.directory).expanduser()


def signing_key(config: Config) -> AuditKey:
    """The key new checkpoints are signed with (created in the data
    directory when the config names none)."""
    spec = config.spec.audit_log
    if spec.key is None:
        key_file = config.data_dir / LOCAL_KEY_FILE
        directory = audit_dir(config)
        if not key_file.exists() and log_files(directory):
            # a new key would make every old checkpoint fail to verify
            raise ConfigError(
                f"the audit log in {directory} was signed with {key_file}, "
                "which is missing",
                path=config.source,
                fix=f"restore {key_file} from a backup, or move the old audit "
                "log files aside to start a new log",
            )
        key = local_key(config.data_dir, create=True)
        assert key is not None
        return key
    _check_key_id(spec, config)
    secret = _resolve(config, "audit_log.key", spec.key)
    return AuditKey.from_text(spec.key_id, secret, f"{config.source}: audit_log.key")


def verification_keys(config: Config) -> dict[str, bytes]:
    """Every key a checkpoint in this log may be signed with: the
    configured one, the previous ones, and the data directory's own."""
    spec = config.spec.audit_log
    keys: dict[str, bytes] = {}
    found = local_key(config.data_dir, create=False)
    if found is not None:
        keys[found.key_id] = found.secret.reveal()
    for i, old in enumerate(spec.previous_keys):
        where = f"audit_log.previous_keys.{i}.key"
        secret = _resolve(config, where, old.key)
        keys[old.key_id] = AuditKey.from_text(old.key_id, secret, where).secret.reveal()
    if spec.key is not None:
        keys[spec.key_id] = signing_key(config).secret.reveal()
    return keys


def open_audit_log(config: Config) -> AuditLog | None:
    """The gateway's audit log, or None when the config turns it off."""
    spec = config.spec.audit_log
    if not spec.enabled:
        return None
    directory = audit_dir(config)
    try:
        return AuditLog(
            directory,
            signing_key(config),
            durability=spec.durability or config.spec.outbox.durability,
            max_file_bytes=spec.max_file_bytes,
            checkpoint_every=spec.checkpoint_every,
        )
    except AuditLogBusy as exc:
        raise ConfigError(
            str(exc),
            path=config.source,
            fix="give each gateway its own audit_log.directory",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot write the audit log in {directory} ({exc.strerror})",
            path=config.source,
            fix="check that the directory exists and Redline may write it",
        ) from None


def _check_key_id(spec: AuditLogSpec, config: Config) -> None:
    if spec.key_id == LOCAL_KEY_ID:
        raise ConfigError(
            f"audit_log.key_id {LOCAL_KEY_ID!r} is the data directory's own key",
            path=config.source,
            fix="choose another key_id for the configured key",
        )


def _resolve(config: Config, where: str, secret: SecretSpec) -> Sensitive[str]:
    try:
        return secret.resolve(config.base_dir, where)
    except ConfigError as exc:
        raise ConfigError(exc.reason, path=config.source, fix=exc.fix) from None
