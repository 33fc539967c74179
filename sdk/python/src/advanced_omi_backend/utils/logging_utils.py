"""`advanced_omi_backend.utils.logging_utils`: keeping secrets out of log lines.

A key is secret when its upper-cased name contains one of SECRET_KEYWORDS (`smtp_password`,
`ha_token`, `api_key`, ...); its value, when non-empty, is replaced by SECRET_MASK.
"""

import re
from typing import Any, Dict, Iterable, List, Optional, Set

SECRET_KEYWORDS: List[str] = [
    "PASSWORD", "PASSWD", "PWD", "TOKEN", "AUTH", "AUTHORIZATION", "KEY", "APIKEY", "API_KEY",
    "SECRET", "CREDENTIAL", "CRED", "PRIVATE", "CERTIFICATE", "CERT",
]
SECRET_MASK = "••••••••"


def is_secret_field(field_name: str, additional_keywords: Optional[Iterable[str]] = None) -> bool:
    """Whether `field_name` names a secret (`smtp_password` yes, `smtp_host` no)."""
    upper = str(field_name).upper()
    keywords = list(SECRET_KEYWORDS) + [keyword.upper() for keyword in additional_keywords or ()]
    return any(keyword in upper for keyword in keywords)


def mask_dict(
    data: Dict[str, Any],
    mask: str = SECRET_MASK,
    secret_fields: Optional[Set[str]] = None,
    additional_keywords: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """A copy of `data` with non-empty secret values masked, nested dicts and lists of dicts too.

    `secret_fields` names more keys to mask (case-insensitive); `additional_keywords` adds name
    fragments to SECRET_KEYWORDS.
    """
    explicit = {name.lower() for name in secret_fields or ()}

    def masked(value: Any) -> Any:
        if isinstance(value, dict):
            return mask_dict(value, mask, secret_fields, additional_keywords)
        if isinstance(value, list):
            return [masked(item) if isinstance(item, dict) else item for item in value]
        return value

    result: Dict[str, Any] = {}
    for key, value in data.items():
        secret = str(key).lower() in explicit or is_secret_field(str(key), additional_keywords)
        result[key] = mask if secret and value else masked(value)
    return result


_DEFAULT_PATTERNS = [
    r"password[=:]\s*\S+",
    r"token[=:]\s*\S+",
    r"key[=:]\s*\S+",
    r"secret[=:]\s*\S+",
    r"api[_-]?key[=:]\s*\S+",
]


def mask_string(text: str, patterns: Optional[List[str]] = None, mask: str = SECRET_MASK) -> str:
    """`text` with the value after `=` or `:` masked wherever a pattern (by default
    `password=...`, `token: ...` and the like) matches, case-insensitively."""
    for pattern in patterns or _DEFAULT_PATTERNS:
        text = re.sub(
            pattern,
            lambda found: re.sub(r"([=:])\s*\S+", lambda sep: sep.group(1) + mask, found.group(0)),
            text,
            flags=re.IGNORECASE,
        )
    return text


def safe_log_config(
    config: Dict[str, Any],
    name: str = "Configuration",
    mask: str = SECRET_MASK,
    secret_fields: Optional[Set[str]] = None,
    additional_keywords: Optional[List[str]] = None,
) -> str:
    """`"<name>: {masked config}"`, ready for a log line."""
    return f"{name}: {mask_dict(config, mask, secret_fields, additional_keywords)}"


def mask_connection_string(connection_string: str, mask: str = SECRET_MASK) -> str:
    """`scheme://user:password@host/...` with the password masked."""
    return re.sub(
        r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@]+:)[^@]+(@)",
        lambda found: found.group(1) + mask + found.group(2),
        connection_string,
    )


def create_masked_repr(obj: Any, secret_attrs: Set[str], mask: str = SECRET_MASK) -> str:
    """`Type(attr=value, ...)` over the object's public, non-callable attributes, with the ones
    in `secret_attrs` masked; for `__repr__` of classes that hold credentials."""
    parts = []
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = getattr(obj, name)
        if callable(value):
            continue
        parts.append(f"{name}='{mask}'" if name in secret_attrs else f"{name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"


__all__ = [
    "SECRET_KEYWORDS",
    "SECRET_MASK",
    "create_masked_repr",
    "is_secret_field",
    "mask_connection_string",
    "mask_dict",
    "mask_string",
    "safe_log_config",
]
