"""Tests for service.settings.load_settings, always with an explicit env (never os.environ)."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, load_settings

# --------------------------------------------------------------------------- defaults (API.md "Operation")


def test_defaults_match_api_md() -> None:
    settings = load_settings({})
    assert isinstance(settings, Settings)
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.jwt_issuer == "brygga-dev"
    assert settings.jwt_audience == "brygga"
    assert settings.max_document_bytes == 52428800
    assert settings.max_consent_days == 730
    assert settings.emergency_hours == 4
    assert settings.domains == ("social", "health")
    assert settings.database_url is None
    assert settings.data_dir == Path("var").resolve()
    assert settings.jwks_path is None
    assert settings.keyring_path is None
    assert settings.log_level == "INFO"
    assert settings.metrics_allow == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_empty_env_does_not_read_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRYGGA_PORT", "9999")
    monkeypatch.setenv("DATABASE_URL", "postgresql://leak@host/db")
    settings = load_settings({})
    assert settings.port == 8080
    assert settings.database_url is None


def test_data_dir_is_resolved_to_absolute(tmp_path: Path) -> None:
    settings = load_settings({"BRYGGA_DATA_DIR": str(tmp_path / "sub" / ".." / "data")})
    assert settings.data_dir.is_absolute()
    assert settings.data_dir == (tmp_path / "data").resolve()


# --------------------------------------------------------------------------- bad values


BAD_VALUES = [
    ("BRYGGA_PORT", "http"),
    ("BRYGGA_PORT", "70000"),
    ("BRYGGA_PORT", "-1"),
    ("BRYGGA_MAX_DOCUMENT_BYTES", "0"),
    ("BRYGGA_MAX_DOCUMENT_BYTES", "-5"),
    ("BRYGGA_MAX_DOCUMENT_BYTES", "1.5"),
    ("BRYGGA_MAX_CONSENT_DAYS", "0"),
    ("BRYGGA_EMERGENCY_HOURS", "100"),
    ("BRYGGA_EMERGENCY_HOURS", "0"),
    ("DATABASE_URL", "mysql://x"),
    ("BRYGGA_JWKS", "/nonexistent/brygga/jwks.json"),
    ("BRYGGA_LOG_LEVEL", "LOUD"),
    ("BRYGGA_DB_POOL_SIZE", "1"),
    ("BRYGGA_DB_POOL_SIZE", "many"),
    ("BRYGGA_SECURE_COOKIES", "never"),
    ("BRYGGA_UI_SESSION_IDLE_MINUTES", "0"),
    ("BRYGGA_UI_SESSION_IDLE_MINUTES", "half an hour"),
    ("BRYGGA_AUDIT_SEAL_INTERVAL", "-1"),
    ("BRYGGA_AUDIT_SEAL_INTERVAL", "nan"),
    ("BRYGGA_ANOMALY_CLIENTS_PER_DAY", "0"),
    ("BRYGGA_MIGRATION_DATABASE_URL", "mysql://x"),
    ("BRYGGA_METRICS_ALLOW", "not-a-network"),
    ("BRYGGA_METRICS_ALLOW", "10.0.0.0/8,not-a-network"),
    ("BRYGGA_DOMAINS", "Police"),
    ("BRYGGA_DOMAINS", "school,Police"),
    ("BRYGGA_DOMAINS", "skola-vård"),
    ("BRYGGA_DEV", "yes"),
    ("BRYGGA_DEV", "true"),
    ("BRYGGA_INDICATORS_FREEZE_DAYS", "-1"),
    ("BRYGGA_INDICATORS_FREEZE_DAYS", "367"),
    ("BRYGGA_INDICATORS_WAIT", "-1"),
    ("BRYGGA_INDICATORS_WAIT", "61"),
    ("BRYGGA_INDICATORS_WAIT", "soon"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES, ids=[f"{n}={v}" for n, v in BAD_VALUES])
def test_bad_value_raises_settings_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings({name: value})
    assert str(excinfo.value).startswith(name), str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_missing_jwks_file_in_tmp_path_is_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "jwks.json"
    with pytest.raises(SettingsError) as excinfo:
        load_settings({"BRYGGA_JWKS": str(missing)})
    assert str(excinfo.value).startswith("BRYGGA_JWKS")
    assert str(missing) in str(excinfo.value)


def test_jwks_pointing_at_a_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="^BRYGGA_JWKS"):
        load_settings({"BRYGGA_JWKS": str(tmp_path)})


def test_bad_value_among_good_ones_is_the_one_named() -> None:
    env = {"BRYGGA_PORT": "8081", "BRYGGA_HOST": "0.0.0.0", "BRYGGA_EMERGENCY_HOURS": "100"}
    with pytest.raises(SettingsError) as excinfo:
        load_settings(env)
    assert str(excinfo.value).startswith("BRYGGA_EMERGENCY_HOURS")


# --------------------------------------------------------------------------- good values


def test_port_zero_is_allowed() -> None:
    assert load_settings({"BRYGGA_PORT": "0"}).port == 0


def test_port_boundaries_and_surrounding_whitespace() -> None:
    assert load_settings({"BRYGGA_PORT": "65535"}).port == 65535
    assert load_settings({"BRYGGA_PORT": " 8081 "}).port == 8081


def test_jwks_existing_file_is_accepted(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    settings = load_settings({"BRYGGA_JWKS": str(jwks)})
    assert settings.jwks_path == jwks


def test_postgres_urls_are_accepted() -> None:
    assert load_settings({"DATABASE_URL": "postgresql://u@h/db"}).database_url == "postgresql://u@h/db"
    assert load_settings({"DATABASE_URL": "postgres://u@h/db"}).database_url == "postgres://u@h/db"


def test_domains_add_to_builtins_first_without_duplicates() -> None:
    settings = load_settings({"BRYGGA_DOMAINS": "school, social"})
    assert settings.domains == ("social", "health", "school")


def test_domains_allow_underscores_and_ignore_empty_items() -> None:
    settings = load_settings({"BRYGGA_DOMAINS": "elder_care,,school,"})
    assert settings.domains == ("social", "health", "elder_care", "school")


def test_metrics_allow_parses_networks() -> None:
    settings = load_settings({"BRYGGA_METRICS_ALLOW": "10.0.0.0/8,::1"})
    assert settings.metrics_allow == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert len(settings.metrics_allow) == 2
    assert ipaddress.ip_address("10.1.2.3") in settings.metrics_allow[0]
    assert ipaddress.ip_address("127.0.0.1") not in settings.metrics_allow[0]


def test_log_level_is_case_insensitive_and_upper_cased() -> None:
    assert load_settings({"BRYGGA_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    assert load_settings({"BRYGGA_LOG_LEVEL": "Warning"}).log_level == "WARNING"
    assert load_settings({"BRYGGA_DB_POOL_SIZE": "40"}).db_pool_size == 40
    assert load_settings({}).secure_cookies == "auto"
    assert load_settings({"BRYGGA_SECURE_COOKIES": "Always"}).secure_cookies == "always"
    assert load_settings({"BRYGGA_AUDIT_SEAL_INTERVAL": "0"}).audit_seal_interval == 0
    assert load_settings({}).ui_session_idle_minutes == 30
    assert load_settings({"BRYGGA_UI_SESSION_IDLE_MINUTES": "15"}).ui_session_idle_minutes == 15


def test_numeric_limits_parse() -> None:
    settings = load_settings(
        {"BRYGGA_MAX_DOCUMENT_BYTES": "1", "BRYGGA_MAX_CONSENT_DAYS": "365", "BRYGGA_EMERGENCY_HOURS": "72"}
    )
    assert settings.max_document_bytes == 1
    assert settings.max_consent_days == 365
    assert settings.emergency_hours == 72


def test_text_settings_are_taken_as_given() -> None:
    settings = load_settings(
        {"BRYGGA_HOST": "0.0.0.0", "BRYGGA_JWT_ISSUER": "https://idp.example", "BRYGGA_JWT_AUDIENCE": "brygga-prod"}
    )
    assert settings.host == "0.0.0.0"
    assert settings.jwt_issuer == "https://idp.example"
    assert settings.jwt_audience == "brygga-prod"


ALL_VARIABLES = [
    "BRYGGA_DATA_DIR",
    "DATABASE_URL",
    "BRYGGA_HOST",
    "BRYGGA_PORT",
    "BRYGGA_JWKS",
    "BRYGGA_JWT_ISSUER",
    "BRYGGA_JWT_AUDIENCE",
    "BRYGGA_KEYRING",
    "BRYGGA_MAX_DOCUMENT_BYTES",
    "BRYGGA_MAX_CONSENT_DAYS",
    "BRYGGA_EMERGENCY_HOURS",
    "BRYGGA_DOMAINS",
    "BRYGGA_METRICS_ALLOW",
    "BRYGGA_LOG_LEVEL",
    "BRYGGA_DEV",
]


@pytest.mark.parametrize("blank", ["", "   "], ids=["empty", "spaces"])
def test_empty_values_fall_back_to_defaults(blank: str) -> None:
    settings = load_settings({name: blank for name in ALL_VARIABLES})
    assert settings == load_settings({})


# --------------------------------------------------------------------------- effective paths


def test_effective_paths_default_to_dev_dir_under_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"BRYGGA_DATA_DIR": str(tmp_path), "BRYGGA_DEV": "1"})
    data_dir = tmp_path.resolve()
    assert settings.dev_dir == data_dir / "dev"
    assert settings.effective_jwks_path == data_dir / "dev" / "jwks.json"
    assert settings.effective_keyring_path == data_dir / "dev" / "keyring.json"


def test_effective_paths_default_under_default_data_dir() -> None:
    settings = load_settings({"BRYGGA_DEV": "1"})
    assert settings.effective_jwks_path == Path("var").resolve() / "dev" / "jwks.json"
    assert settings.effective_keyring_path == Path("var").resolve() / "dev" / "keyring.json"


def test_effective_paths_use_configured_files(tmp_path: Path) -> None:
    jwks = tmp_path / "conf" / "jwks.json"
    jwks.parent.mkdir()
    jwks.write_text('{"keys": []}')
    keyring = tmp_path / "secrets" / "keyring.json"  # need not exist yet (`keys init` creates it)
    settings = load_settings({"BRYGGA_DATA_DIR": str(tmp_path / "data"), "BRYGGA_JWKS": str(jwks), "BRYGGA_KEYRING": str(keyring)})
    assert settings.effective_jwks_path == jwks
    assert settings.effective_keyring_path == keyring
    assert settings.keyring_path == keyring
    assert not settings.dev_tokens


# --------------------------------------------------------------------------- development keys only on request


def test_development_keys_are_off_unless_brygga_dev_is_1() -> None:
    assert load_settings({}).dev is False and load_settings({"BRYGGA_DEV": "0"}).dev is False
    assert load_settings({"BRYGGA_DEV": "1"}).dev is True
    assert not load_settings({}).dev_tokens and load_settings({"BRYGGA_DEV": "1"}).dev_tokens


def test_without_brygga_dev_a_missing_jwks_or_key_ring_names_the_setting(tmp_path: Path) -> None:
    """No silent development keys: a production start without BRYGGA_JWKS would trust a key anyone could use."""
    settings = load_settings({"BRYGGA_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="^BRYGGA_JWKS: .*BRYGGA_DEV=1"):
        settings.effective_jwks_path
    with pytest.raises(SettingsError, match="^BRYGGA_KEYRING: .*BRYGGA_DEV=1"):
        settings.effective_keyring_path
    assert not (tmp_path / "dev").exists()


def test_a_configured_jwks_is_used_even_with_brygga_dev_and_then_no_development_tokens(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    settings = load_settings({"BRYGGA_JWKS": str(jwks), "BRYGGA_DEV": "1"})
    assert settings.effective_jwks_path == jwks and not settings.dev_tokens


def test_waits_for_a_pool_connection_and_for_an_upload_body_are_bounded_seconds() -> None:
    defaults = load_settings({})
    assert (defaults.db_acquire_timeout, defaults.body_chunk_timeout) == (5.0, 30.0)
    settings = load_settings({"BRYGGA_DB_ACQUIRE_TIMEOUT": "0.5", "BRYGGA_BODY_CHUNK_TIMEOUT": "120"})
    assert (settings.db_acquire_timeout, settings.body_chunk_timeout) == (0.5, 120.0)
    for name, value in (("BRYGGA_DB_ACQUIRE_TIMEOUT", "0"), ("BRYGGA_DB_ACQUIRE_TIMEOUT", "61"),
                        ("BRYGGA_DB_ACQUIRE_TIMEOUT", "nan"), ("BRYGGA_BODY_CHUNK_TIMEOUT", "-1"),
                        ("BRYGGA_BODY_CHUNK_TIMEOUT", "forever"), ("BRYGGA_BODY_CHUNK_TIMEOUT", "601")):
        with pytest.raises(SettingsError, match=name):
            load_settings({name: value})


# --------------------------------------------------------------------------- identity providers (API-1.1)


def test_an_issuer_with_its_web_client_and_claim_mapping() -> None:
    settings = load_settings({
        "BRYGGA_OIDC_ISSUER": "https://idp.example.se/oidc", "BRYGGA_OIDC_CLIENT_ID": "brygga-web",
        "BRYGGA_OIDC_CLIENT_SECRET": "s3cret", "BRYGGA_CLAIM_SUB": "employeeHsaId", "BRYGGA_CLAIM_UNIT": "unit_id",
        "BRYGGA_CLAIM_ROLES": "groups", "BRYGGA_DEV": "1",
        "BRYGGA_ROLE_MAP": '{"7f3c0e4a-group": "staff", "Brygga-chefer": ["staff", "unit_manager"]}'})
    assert (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret) == (
        "https://idp.example.se/oidc", "brygga-web", "s3cret")
    assert (settings.claim_sub, settings.claim_unit, settings.claim_roles) == ("employeeHsaId", "unit_id", "groups")
    assert dict(settings.role_map or ()) == {"7f3c0e4a-group": ("staff",), "Brygga-chefer": ("staff", "unit_manager")}
    assert not settings.dev_tokens  # an issuer: no development sign-in even with BRYGGA_DEV=1
    defaults = load_settings({})
    assert (defaults.oidc_issuer, defaults.claim_sub, defaults.claim_unit, defaults.claim_roles, defaults.role_map) == (
        None, "sub", "unit", "roles", None)


@pytest.mark.parametrize("issuer", ["http://idp.example.se", "idp.example.se", "https://idp.example.se/?a=1",
                                    "https://idp.example.se/#x", "https://"])
def test_an_issuer_is_an_https_url_or_http_to_this_machine(issuer: str) -> None:
    with pytest.raises(SettingsError, match="^BRYGGA_OIDC_ISSUER: "):
        load_settings({"BRYGGA_OIDC_ISSUER": issuer})
    assert load_settings({"BRYGGA_OIDC_ISSUER": "http://127.0.0.1:9000"}).oidc_issuer == "http://127.0.0.1:9000"


@pytest.mark.parametrize("role_map", ['["staff"]', "{}", '{"g": "superuser"}', '{"g": []}', '{"g": 7}', "not json"])
def test_a_role_map_maps_to_brygga_roles(role_map: str) -> None:
    with pytest.raises(SettingsError, match="^BRYGGA_ROLE_MAP: "):
        load_settings({"BRYGGA_ROLE_MAP": role_map})


def test_an_issuer_and_a_jwks_file_are_not_both_set(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    with pytest.raises(SettingsError, match="BRYGGA_OIDC_ISSUER and BRYGGA_JWKS"):
        load_settings({"BRYGGA_OIDC_ISSUER": "https://idp.example.se", "BRYGGA_JWKS": str(jwks)})
    with pytest.raises(SettingsError, match="^BRYGGA_OIDC_CLIENT_SECRET: "):
        load_settings({"BRYGGA_OIDC_CLIENT_SECRET": "s3cret"})


def test_the_blob_store_is_the_database_or_an_s3_location() -> None:
    assert load_settings({}).blobs == "postgres"
    assert load_settings({"BRYGGA_BLOBS": "s3://brygga-docs/prod/segments"}).blobs == "s3://brygga-docs/prod/segments"
    for value in ("s3://", "https://brygga-docs/prod", "s3:brygga-docs", "files", "s3://bucket/p?versionId=1"):
        with pytest.raises(SettingsError, match="BRYGGA_BLOBS"):
            load_settings({"BRYGGA_BLOBS": value})


def test_an_hsm_needs_its_module_and_its_pin_file_together(tmp_path) -> None:
    module, pin = tmp_path / "libtoken.so", tmp_path / "pin"
    module.write_bytes(b"")
    pin.write_text("1234")
    settings = load_settings({"BRYGGA_PKCS11_MODULE": str(module), "BRYGGA_PKCS11_PIN_FILE": str(pin),
                              "BRYGGA_PKCS11_TOKEN": "brygga-prod"})
    assert (settings.pkcs11_module, settings.pkcs11_pin_file, settings.pkcs11_token) == (module, pin, "brygga-prod")
    assert load_settings({}).pkcs11_module is None
    for env in ({"BRYGGA_PKCS11_MODULE": str(module)}, {"BRYGGA_PKCS11_PIN_FILE": str(pin)}):
        with pytest.raises(SettingsError, match="BRYGGA_PKCS11_MODULE and BRYGGA_PKCS11_PIN_FILE"):
            load_settings(env)
    with pytest.raises(SettingsError, match="BRYGGA_PKCS11_MODULE"):
        load_settings({"BRYGGA_PKCS11_MODULE": str(tmp_path / "missing.so"), "BRYGGA_PKCS11_PIN_FILE": str(pin)})


def test_the_web_client_id_is_not_the_api_audience() -> None:
    """Insider attack 11, finding 1: with one value for both, the sign-in's ID tokens would open the API."""
    env = {"BRYGGA_OIDC_ISSUER": "https://idp.example.se/oidc", "BRYGGA_OIDC_CLIENT_ID": "brygga-region-skane",
           "BRYGGA_DEV": "1"}
    with pytest.raises(SettingsError, match="BRYGGA_OIDC_CLIENT_ID and BRYGGA_JWT_AUDIENCE"):
        load_settings({**env, "BRYGGA_JWT_AUDIENCE": "brygga-region-skane"})
    with pytest.raises(SettingsError, match="BRYGGA_OIDC_CLIENT_ID and BRYGGA_JWT_AUDIENCE"):
        load_settings({**env, "BRYGGA_OIDC_CLIENT_ID": "brygga"})  # the audience's default
    settings = load_settings({**env, "BRYGGA_JWT_AUDIENCE": "brygga-region-skane-api"})
    assert (settings.oidc_client_id, settings.jwt_audience) == ("brygga-region-skane", "brygga-region-skane-api")


def test_a_roles_claim_other_than_roles_needs_a_role_map() -> None:
    """Insider attack 11, finding 3: a groups claim without a map would make a group named "admin" an admin."""
    with pytest.raises(SettingsError, match="^BRYGGA_CLAIM_ROLES=groups needs BRYGGA_ROLE_MAP"):
        load_settings({"BRYGGA_CLAIM_ROLES": "groups"})
    mapped = load_settings({"BRYGGA_CLAIM_ROLES": "groups", "BRYGGA_ROLE_MAP": '{"g-staff": "staff"}'})
    assert (mapped.claim_roles, dict(mapped.role_map or ())) == ("groups", {"g-staff": ("staff",)})
    assert load_settings({"BRYGGA_CLAIM_ROLES": "roles"}).role_map is None  # the roles claim names roles itself


def test_the_indicator_freeze_delay_is_read_and_defaults_to_31_days() -> None:
    assert load_settings({}).indicators_freeze_days == 31
    assert load_settings({"BRYGGA_INDICATORS_FREEZE_DAYS": "0"}).indicators_freeze_days == 0
    assert load_settings({"BRYGGA_INDICATORS_FREEZE_DAYS": "60"}).indicators_freeze_days == 60
    assert load_settings({}).indicators_wait == 10.0
    assert load_settings({"BRYGGA_INDICATORS_WAIT": "0"}).indicators_wait == 0.0
