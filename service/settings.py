"""Environment → typed, validated Settings (API.md "Operation").

Every bad value stops start-up with a message that names the variable, so an
operator never has to guess which of a dozen settings is wrong.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BUILTIN_DOMAINS = ("social", "health")


class SettingsError(ValueError):
    """A setting has a value Brygga cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str | None = None
    migration_database_url: str | None = None  # the owner's login, when DATABASE_URL is the application role's
    host: str = "127.0.0.1"
    port: int = 8080
    jwks_path: Path | None = None
    jwt_issuer: str = "brygga-dev"
    jwt_audience: str = "brygga"
    keyring_path: Path | None = None
    max_document_bytes: int = 50 * 1024 * 1024
    max_consent_days: int = 730
    emergency_hours: int = 4
    domains: tuple[str, ...] = BUILTIN_DOMAINS
    emergency_domains: tuple[str, ...] = ("health",)
    audit_seal_interval: float = 0.2  # seconds between sealer rounds; 0 turns the background sealer off (tests)
    # Years the audit log stays in the database: `audit archive` refuses younger events. Never below 5
    # (a lower value stops start-up): access logs are kept at least five years (HSLF-FS 2016:40 4:9).
    audit_keep_years: int = 5
    # When each day (UTC) the service runs `retention run` itself (one replica at a time: the run's lock); None:
    # never, culling is the operator's command (API-1.1 "Retention").
    retention_run_at: time | None = None
    # Indicators: no cell (nor any sum or difference of the period's tables) of fewer persons than this (API-1.1;
    # Socialstyrelsen's practice suppresses 1-4, so 5 is the least; raise it, never lower it below 3).
    min_cell: int = 5
    # Days after a year's end before the service freezes the year and makes its indicator tables ahead of the first
    # read (so late entries for December get in; service/indicator_schedule.py). A read before then still freezes it.
    indicators_freeze_days: int = 31
    # Seconds a read waits for a year's tables to be made when none are stored yet (the making goes on in the
    # background past it, and the read answers 503 indicators_being_made with Retry-After).
    indicators_wait: float = 10.0
    anomaly_clients_per_day: int = 30  # a user reading more distinct clients in a day is a finding
    anomaly_denials_per_day: int = 5  # as many denied attempts by one user in a day is a finding
    anomaly_relations_per_day: int = 20  # a user opening as many relations in a day is a finding
    metrics_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default_factory=lambda: (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    )
    log_level: str = "INFO"
    db_pool_size: int = 20  # connections per replica: a download holds one through its audit commit
    # Seconds a request waits for a pool connection before it is answered 503 service_unavailable (Retry-After):
    # a full pool makes callers retry instead of hanging without an answer.
    db_acquire_timeout: float = 5.0
    # Seconds an upload may go without a byte of its body before it fails (408 request_timeout, nothing kept).
    body_chunk_timeout: float = 30.0
    # The web session cookie's Secure attribute: "auto" when the request came over TLS to this process,
    # "always" behind a proxy that terminates TLS (the service then sees plain HTTP).
    secure_cookies: str = "auto"
    # A web session unused this long is over (server-side: the saved cookie opens nothing after it).
    ui_session_idle_minutes: int = 30
    # BRYGGA_DEV=1: development keys (a token-signing key next to the service, a key ring in the data dir) and the
    # development sign-in. Never implied by a missing setting: a production start without BRYGGA_JWKS or
    # BRYGGA_KEYRING stops instead of trusting keys anyone who reaches the port could use.
    dev: bool = False
    # The token claim that carries a client's personal number (API-1.1 "Identity providers").
    claim_personal_number: str = "sub"
    # Where encrypted segments live: "postgres" (rows of document_segments) or s3://bucket/prefix (an S3-compatible
    # bucket; endpoint, region and credentials from the standard AWS settings).
    blobs: str = "postgres"
    # An HSM for the KEKs and culling-epoch keys (crypto/pkcs11_provider.py): the PKCS#11 module, the token's label
    # and a file (mode 0600) holding its user PIN. Unset: they stay in the key ring file.
    pkcs11_module: Path | None = None
    pkcs11_token: str = "brygga"
    pkcs11_pin_file: Path | None = None
    # Whether the client's own access log names the staff who read (API-1.1 "The client's own view").
    extract_names: bool = True
    # OpenID Connect (API-1.1 "Identity providers"): the issuer whose discovery document names the JWKS (instead of
    # BRYGGA_JWKS) and the authorization endpoint the web sign-in sends browsers to.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None  # none: a public client, PKCE alone (token_endpoint_auth_method none)
    oidc_scopes: str = "openid profile"  # what the web sign-in asks for (openid always)
    oidc_redirect_uri: str | None = None  # default: <this request's origin>/ui/oidc/callback
    # Claim mapping: which claim is the user's id (an HSA-id), their unit and their roles; IdP group or value →
    # Brygga role(s). Without a map the values are Brygga role names; with one, only mapped values count.
    claim_sub: str = "sub"
    claim_unit: str = "unit"
    claim_roles: str = "roles"
    role_map: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    def __post_init__(self) -> None:
        if (self.pkcs11_module is None) != (self.pkcs11_pin_file is None):
            raise SettingsError("BRYGGA_PKCS11_MODULE and BRYGGA_PKCS11_PIN_FILE: set both (an HSM) or neither")

    @property
    def dev_dir(self) -> Path:
        """Where development keys live when no JWKS / key ring is configured."""
        return self.data_dir / "dev"

    @property
    def dev_tokens(self) -> bool:
        """The service trusts its own development signing key: BRYGGA_DEV=1, no BRYGGA_JWKS and no issuer."""
        return self.dev and self.jwks_path is None and self.oidc_issuer is None

    @property
    def effective_jwks_path(self) -> Path:
        """BRYGGA_JWKS, else (BRYGGA_DEV=1 only) the development JWKS; raises SettingsError naming the setting."""
        return self._configured_or_dev(
            self.jwks_path, "jwks.json", "BRYGGA_JWKS: set it to your identity provider's JWKS file (or set "
            "BRYGGA_OIDC_ISSUER to its issuer); development keys only with BRYGGA_DEV=1")

    @property
    def effective_keyring_path(self) -> Path:
        """BRYGGA_KEYRING, else (BRYGGA_DEV=1 only) the development ring; raises SettingsError naming the setting."""
        return self._configured_or_dev(
            self.keyring_path, "keyring.json", "BRYGGA_KEYRING: set it to the key ring (`python -m service keys init` "
            "creates one); a development ring only with BRYGGA_DEV=1")

    def _configured_or_dev(self, configured: Path | None, dev_file: str, refusal: str) -> Path:
        """`configured`, else the development file in dev_dir, which exists only with BRYGGA_DEV=1 (else `refusal`)."""
        if configured is not None:
            return configured
        if not self.dev:
            raise SettingsError(refusal)
        return self.dev_dir / dev_file

    @property
    def dev_signing_key_path(self) -> Path:
        return self.dev_dir / "jwt-signing-key.pem"


def _get(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _text(raw: str) -> str:
    return raw


def _dsn(raw: str) -> str:
    if not raw.startswith(("postgres://", "postgresql://")):
        raise ValueError("must start with postgresql:// or postgres://")
    return raw


def _existing_file(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


def _file_path(raw: str) -> Path:
    return Path(raw).expanduser()


def _domains(raw: str) -> tuple[str, ...]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    bad = [name for name in names if not name.isascii() or not name.replace("_", "").isalnum() or not name.islower()]
    if bad:
        raise ValueError(f"domain names are lower-case ASCII words, got {bad}")
    return tuple(dict.fromkeys([*BUILTIN_DOMAINS, *names]))


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    if not names or any(not name.replace("_", "").isalnum() or not name.islower() for name in names):
        raise ValueError(f"expected comma-separated lower-case domain names, got {raw!r}")
    return names


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=True) for part in raw.split(",") if part.strip())


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return raw.lower()
    return parse


def _flag(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ValueError(f"must be 1 or 0, got {raw!r}")
    return raw == "1"


def _time_of_day(raw: str) -> time:
    """HH:MM or HH:MM:SS, UTC."""
    if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", raw):
        raise ValueError(f"expected a time of day HH:MM (UTC), got {raw!r}")
    return time.fromisoformat(raw)


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 60:
        raise ValueError(f"must be between 0 and 60 seconds, got {raw!r}")
    return value


def _positive_seconds(high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {raw!r}") from None
        if not 0 < value <= high:  # also refuses nan
            raise ValueError(f"must be more than 0 and at most {high:g} seconds, got {raw!r}")
        return value

    return parse


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level


def _issuer(raw: str) -> str:
    """An issuer identifier (OpenID Connect Discovery 1.0 §2): an https URL, or http to a loopback address
    (a provider on the same machine, as the tests start); no query or fragment; kept as written, since
    the discovery document's `issuer` must equal it exactly."""
    from urllib.parse import urlsplit
    parts = urlsplit(raw)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"must be an https URL (http only to localhost), got {raw!r}")
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"must be a URL with a host and no query or fragment, got {raw!r}")
    return raw


def _role_map(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A JSON object: IdP group or value → a Brygga role name or a list of them, e.g.
    {"7f3c…-entra-group-id": "staff", "Brygga-chefer": ["staff", "manager"]}."""
    from policies.model import Role
    try:
        document = json.loads(raw)
    except ValueError:
        raise ValueError("must be a JSON object of group → role or [roles]") from None
    if not isinstance(document, dict) or not document:
        raise ValueError("must be a non-empty JSON object of group → role or [roles]")
    pairs = []
    for group, roles in document.items():
        roles = [roles] if isinstance(roles, str) else roles
        if not isinstance(roles, list) or not roles or not all(isinstance(role, str) for role in roles):
            raise ValueError(f"{group!r} must map to a role name or a list of them")
        unknown = sorted(set(roles) - set(Role._value2member_map_))
        if unknown:
            raise ValueError(f"{group!r} maps to {unknown}, not Brygga roles ({', '.join(r.value for r in Role)})")
        pairs.append((group, tuple(roles)))
    return tuple(pairs)


def _blobs(raw: str) -> str:
    if raw == "postgres":
        return raw
    from .store.s3_blobs import parse_location

    parse_location(raw)  # ValueError naming the expected form
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `env` (default: os.environ); raises SettingsError naming the variable."""
    env = os.environ if env is None else env
    defaults = Settings(data_dir=Path("var"))
    settings = Settings(
        data_dir=_get(env, "BRYGGA_DATA_DIR", _file_path, Path("var")).resolve(),
        database_url=_get(env, "DATABASE_URL", _dsn, None),
        migration_database_url=_get(env, "BRYGGA_MIGRATION_DATABASE_URL", _dsn, None),
        host=_get(env, "BRYGGA_HOST", _text, defaults.host),
        port=_get(env, "BRYGGA_PORT", _int_between(0, 65535), defaults.port),
        jwks_path=_get(env, "BRYGGA_JWKS", _existing_file, None),
        jwt_issuer=_get(env, "BRYGGA_JWT_ISSUER", _text, defaults.jwt_issuer),
        jwt_audience=_get(env, "BRYGGA_JWT_AUDIENCE", _text, defaults.jwt_audience),
        keyring_path=_get(env, "BRYGGA_KEYRING", _file_path, None),
        max_document_bytes=_get(env, "BRYGGA_MAX_DOCUMENT_BYTES", _int_between(1, 2**40), defaults.max_document_bytes),
        max_consent_days=_get(env, "BRYGGA_MAX_CONSENT_DAYS", _int_between(1, 36500), defaults.max_consent_days),
        emergency_hours=_get(env, "BRYGGA_EMERGENCY_HOURS", _int_between(1, 72), defaults.emergency_hours),
        domains=_get(env, "BRYGGA_DOMAINS", _domains, BUILTIN_DOMAINS),
        emergency_domains=_get(env, "BRYGGA_EMERGENCY_DOMAINS", _names, defaults.emergency_domains),
        audit_seal_interval=_get(env, "BRYGGA_AUDIT_SEAL_INTERVAL", _seconds, defaults.audit_seal_interval),
        audit_keep_years=_get(env, "BRYGGA_AUDIT_KEEP_YEARS", _int_between(5, 1000), defaults.audit_keep_years),
        retention_run_at=_get(env, "BRYGGA_RETENTION_RUN_AT", _time_of_day, defaults.retention_run_at),
        min_cell=_get(env, "BRYGGA_MIN_CELL", _int_between(3, 1000), defaults.min_cell),
        indicators_freeze_days=_get(env, "BRYGGA_INDICATORS_FREEZE_DAYS", _int_between(0, 366),
                                    defaults.indicators_freeze_days),
        indicators_wait=_get(env, "BRYGGA_INDICATORS_WAIT", _seconds, defaults.indicators_wait),
        anomaly_clients_per_day=_get(env, "BRYGGA_ANOMALY_CLIENTS_PER_DAY", _int_between(1, 100_000),
                                     defaults.anomaly_clients_per_day),
        anomaly_denials_per_day=_get(env, "BRYGGA_ANOMALY_DENIALS_PER_DAY", _int_between(1, 100_000),
                                     defaults.anomaly_denials_per_day),
        anomaly_relations_per_day=_get(env, "BRYGGA_ANOMALY_RELATIONS_PER_DAY", _int_between(1, 100_000),
                                       defaults.anomaly_relations_per_day),
        metrics_allow=_get(env, "BRYGGA_METRICS_ALLOW", _networks, defaults.metrics_allow),
        log_level=_get(env, "BRYGGA_LOG_LEVEL", _log_level, defaults.log_level),
        db_pool_size=_get(env, "BRYGGA_DB_POOL_SIZE", _int_between(2, 500), defaults.db_pool_size),
        db_acquire_timeout=_get(env, "BRYGGA_DB_ACQUIRE_TIMEOUT", _positive_seconds(60), defaults.db_acquire_timeout),
        body_chunk_timeout=_get(env, "BRYGGA_BODY_CHUNK_TIMEOUT", _positive_seconds(600), defaults.body_chunk_timeout),
        secure_cookies=_get(env, "BRYGGA_SECURE_COOKIES", _one_of("auto", "always"), defaults.secure_cookies),
        ui_session_idle_minutes=_get(env, "BRYGGA_UI_SESSION_IDLE_MINUTES", _int_between(1, 24 * 60),
                                     defaults.ui_session_idle_minutes),
        dev=_get(env, "BRYGGA_DEV", _flag, defaults.dev),
        claim_personal_number=_get(env, "BRYGGA_CLAIM_PERSONAL_NUMBER", _text, defaults.claim_personal_number),
        extract_names=_get(env, "BRYGGA_EXTRACT_NAMES", _flag, defaults.extract_names),
        oidc_issuer=_get(env, "BRYGGA_OIDC_ISSUER", _issuer, None),
        oidc_client_id=_get(env, "BRYGGA_OIDC_CLIENT_ID", _text, None),
        oidc_client_secret=_get(env, "BRYGGA_OIDC_CLIENT_SECRET", _text, None),
        oidc_scopes=_get(env, "BRYGGA_OIDC_SCOPES", _text, defaults.oidc_scopes),
        oidc_redirect_uri=_get(env, "BRYGGA_OIDC_REDIRECT_URI", _text, None),
        claim_sub=_get(env, "BRYGGA_CLAIM_SUB", _text, defaults.claim_sub),
        claim_unit=_get(env, "BRYGGA_CLAIM_UNIT", _text, defaults.claim_unit),
        claim_roles=_get(env, "BRYGGA_CLAIM_ROLES", _text, defaults.claim_roles),
        role_map=_get(env, "BRYGGA_ROLE_MAP", _role_map, None),
        blobs=_get(env, "BRYGGA_BLOBS", _blobs, defaults.blobs),
        pkcs11_module=_get(env, "BRYGGA_PKCS11_MODULE", _existing_file, None),
        pkcs11_token=_get(env, "BRYGGA_PKCS11_TOKEN", _text, defaults.pkcs11_token),
        pkcs11_pin_file=_get(env, "BRYGGA_PKCS11_PIN_FILE", _existing_file, None),
    )
    if settings.oidc_issuer is not None and settings.jwks_path is not None:
        raise SettingsError("BRYGGA_OIDC_ISSUER and BRYGGA_JWKS: set one (the issuer's keys come from its discovery "
                            "document; the file is for installations without discovery)")
    if settings.oidc_client_secret is not None and settings.oidc_client_id is None:
        raise SettingsError("BRYGGA_OIDC_CLIENT_SECRET: set BRYGGA_OIDC_CLIENT_ID too")
    if settings.claim_roles != defaults.claim_roles and settings.role_map is None:
        # Without a map the claim's values are taken as Brygga role names: a groups claim would grant `admin` to
        # anyone in a group that happens to be called "admin", and where users may create groups, to anyone
        # (insider attack 11, finding 3). Only the `roles` claim, whose values the provider sets as roles, may
        # name roles directly.
        raise SettingsError(f"BRYGGA_CLAIM_ROLES={settings.claim_roles} needs BRYGGA_ROLE_MAP: without it every value of "
                            f"that claim named like a Brygga role (a group called 'admin') would grant the role; map "
                            "the groups that grant roles, or use the claim 'roles'")
    if settings.oidc_client_id is not None and settings.oidc_client_id == settings.jwt_audience:
        # The ID token's audience is the client id: were it also the API's, every ID token (which sign-out used to
        # put in a URL, and which a browser's history keeps) would open the API as its user (insider attack 11).
        raise SettingsError(f"BRYGGA_OIDC_CLIENT_ID and BRYGGA_JWT_AUDIENCE are both {settings.jwt_audience!r}: the web "
                            "sign-in's client id must differ from the API's audience, or its ID tokens would open the "
                            "API (register the API as a resource/application of its own at the provider)")
    return settings
