"""Every configure() setting from USAGEANALYTICS_<NAME>: typed from Settings, checked like the
argument, the argument winning, and messages that name the variable."""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

import usageanalytics as ua
from usageanalytics import setting_types
from usageanalytics.setting_types import UnsupportedKind, field_annotations, kind_for
from usageanalytics.settings import (
    Given,
    Settings,
    config_settings,
    describe_settings,
    env_var,
    environment_settings,
    resolve_settings,
    setting_kinds,
    suggestion,
    unknown_variables,
)

BASE = {"USAGEANALYTICS_APP_ID": "env-app", "USAGEANALYTICS_API_KEY": "env-key"}


def settings_with(**variables: str) -> Settings:
    return resolve_settings(environ={**BASE, **variables})


def error_with(**variables: str) -> str:
    with pytest.raises(ua.ConfigurationError) as raised:
        settings_with(**variables)
    return str(raised.value)


# -- every field of Settings -------------------------------------------------------------------


def test_every_setting_is_readable_from_the_environment() -> None:
    unsupported = {name: kind for name, kind in setting_kinds().items() if isinstance(kind, UnsupportedKind)}
    assert unsupported == {}, "teach usageanalytics.setting_types this type, or give the field one it reads"


def sample_text(name: str, field: dataclasses.Field[Any]) -> tuple[str, Any]:
    """A valid text for each field, and the value it must give."""
    special = {
        "app_id": ("my-app", "my-app"),
        "api_key": ("k3y", "k3y"),
        "endpoint": ("https://example.com/v4", "https://example.com/v4/"),
        "platform": ("android", "Android"),
        "batch_size": ("250", 250),
        "max_request_bytes": ("500000", 500_000),
        "data_dir": ("~/ua-data", Path("~/ua-data").expanduser()),
        "capture_ip": ("FULL", "full"),
    }
    if name in special:
        return special[name]
    default = field.default
    if isinstance(default, bool):
        return ("0", False) if default else ("yes", True)
    if isinstance(default, int):
        return ("7", 7)
    if isinstance(default, float):
        return ("2.5", 2.5)
    return ("some-text", "some-text")


@pytest.mark.parametrize("field", dataclasses.fields(Settings), ids=lambda f: f.name)
def test_each_field_is_read_typed_from_its_variable(field: dataclasses.Field[Any]) -> None:
    kind = setting_kinds()[field.name]
    if isinstance(kind, setting_types.CallableKind):
        text, expected = "os.path:join", os.path.join
    else:
        text, expected = sample_text(field.name, field)
    settings = resolve_settings(environ={**BASE, env_var(field.name): text})
    value = getattr(settings, field.name)
    assert value == expected
    assert type(value) is type(expected)


def test_the_help_table_lists_every_field() -> None:
    assert [row[0] for row in describe_settings()] == [env_var(f.name) for f in dataclasses.fields(Settings)]
    rows = {row[0]: row for row in describe_settings()}
    assert rows["USAGEANALYTICS_FLUSH_INTERVAL"][1:3] == ("number", "120")
    assert rows["USAGEANALYTICS_AUTO_CAPTURE"][1:3] == ("true/false", "1")
    assert rows["USAGEANALYTICS_APP_ID"][2] == "required"


# -- the types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("False", False),
        ("no", False),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    assert settings_with(USAGEANALYTICS_DURABLE=text).durable is value


def test_numbers_keep_their_type() -> None:
    settings = settings_with(USAGEANALYTICS_FLUSH_INTERVAL="30", USAGEANALYTICS_MAX_QUEUED_RECORDS="1_000")
    assert settings.flush_interval == 30.0 and isinstance(settings.flush_interval, float)
    assert settings.max_queued_records == 1000 and isinstance(settings.max_queued_records, int)


def test_empty_variables_are_not_set() -> None:
    settings = settings_with(USAGEANALYTICS_CUSTOMER_ACCOUNT_ID="", USAGEANALYTICS_FLUSH_INTERVAL="  ")
    assert settings.customer_account_id is None
    assert settings.flush_interval == 120.0


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def identify_here(request: Any) -> str:
    return "u"


@pytest.mark.parametrize(
    ("annotation", "text", "value"),
    [
        (bool, "on", True),
        (int, "-3", -3),
        (float, "1e3", 1000.0),
        (str, "x y", "x y"),
        (Path, "~/a", Path("~/a").expanduser()),
        (Path | None, "/tmp/x", Path("/tmp/x")),
        (str | None, "acme", "acme"),
        (Literal["full", "anonymized", "none"], "Anonymized", "anonymized"),
        (Color, "BLUE", Color.BLUE),
        (Color, "red", Color.RED),
        (Callable[..., Any], f"{__name__}:identify_here", identify_here),
        (Callable[..., Any] | None, f"{__name__}.identify_here", identify_here),
        (tuple[str, ...], "a, b,,c", ("a", "b", "c")),
        (list[int], "[1, 2]", [1, 2]),
        (frozenset[str], "x,y", frozenset({"x", "y"})),
        (Sequence[str], "/a,/b", ("/a", "/b")),
        (Mapping[str, Any], '{"Plan": "Pro"}', {"Plan": "Pro"}),
        (dict[str, int], '{"a": 1}', {"a": 1}),
        (bool | Literal["anonymized"], "yes", True),
        (bool | Literal["anonymized"], "anonymized", "anonymized"),
        (Any, "anything", "anything"),
    ],
)
def test_each_kind_of_annotation_reads_its_text(annotation: Any, text: str, value: Any) -> None:
    assert kind_for(annotation).parse(text) == value


@pytest.mark.parametrize(
    ("annotation", "text", "message"),
    [
        (bool, "maybe", "must be one of 1/0, true/false, yes/no, on/off"),
        (int, "1.5", "must be an integer"),
        (float, "fast", "must be a number"),
        (Literal["full", "none"], "half", "must be one of 'full', 'none'"),
        (Color, "green", "must be a Color"),
        (Callable[..., Any], "no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        (Callable[..., Any], "os.path:no_such_function", "has no attribute"),
        (Callable[..., Any], "os:sep", "not callable"),
        (Callable[..., Any], "not a path", "is not a 'module:attr' or 'module.attr' path"),
        (list[int], "[1, 2", "is not a JSON array"),
        (list[int], "1,x", "must be an integer"),
        (Mapping[str, Any], "[1]", "must be a mapping"),
        (tuple[int, str], "1,a", "cannot be read from text"),
    ],
)
def test_each_kind_refuses_what_it_cannot_read(annotation: Any, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kind_for(annotation).parse(text)


def test_a_field_added_to_a_settings_class_is_read_from_the_environment() -> None:
    """What another engineer's new field gets for free: its type, from its annotation alone."""

    @dataclasses.dataclass(frozen=True)
    class Newer:
        debug: bool = False
        capture_ip: Literal["full", "anonymized", "none"] = "anonymized"
        before_send: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
        sample_rate: float = 1.0

    annotations = field_annotations(Newer, {**vars(sys.modules[__name__]), "Literal": Literal})
    kinds = {name: kind_for(annotation) for name, annotation in annotations.items()}
    assert kinds["debug"].parse("1") is True
    assert kinds["capture_ip"].parse("NONE") == "none"
    assert kinds["before_send"].parse(f"{__name__}:identify_here") is identify_here
    assert kinds["sample_rate"].parse("0.25") == 0.25


def test_an_annotation_that_cannot_be_resolved_does_not_hide_the_others() -> None:
    @dataclasses.dataclass
    class Odd:
        fine: int = 1
        broken: NoSuchType | None = None  # type: ignore[name-defined]  # noqa: F821

    annotations = field_annotations(Odd, {})
    assert annotations["fine"] == "int" or annotations["fine"] is int
    assert isinstance(kind_for(annotations["broken"]), UnsupportedKind)


# -- checked like the argument, with the variable named ----------------------------------------


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"USAGEANALYTICS_FLUSH_INTERVAL": "soon"},
            "USAGEANALYTICS_FLUSH_INTERVAL='soon': flush_interval must be a number",
        ),
        (
            {"USAGEANALYTICS_FLUSH_INTERVAL": "-5"},
            "USAGEANALYTICS_FLUSH_INTERVAL='-5': flush_interval must be a positive number of seconds",
        ),
        ({"USAGEANALYTICS_FLUSH_INTERVAL": "nan"}, "flush_interval must be a positive number of seconds"),
        (
            {"USAGEANALYTICS_BATCH_SIZE": "5000"},
            "USAGEANALYTICS_BATCH_SIZE='5000': batch_size must be between 1 and 1000",
        ),
        (
            {"USAGEANALYTICS_BATCH_SIZE": "2.5"},
            "USAGEANALYTICS_BATCH_SIZE='2.5': batch_size must be an integer",
        ),
        (
            {"USAGEANALYTICS_DURABLE": "sometimes"},
            "USAGEANALYTICS_DURABLE='sometimes': durable must be one of",
        ),
        (
            {"USAGEANALYTICS_PLATFORM": "Symbian"},
            "USAGEANALYTICS_PLATFORM='Symbian': platform must be one of iOS",
        ),
        (
            {"USAGEANALYTICS_ENDPOINT": "http://example.com/v4/"},
            "USAGEANALYTICS_ENDPOINT='http://example.com/v4/': endpoint",
        ),
        ({"USAGEANALYTICS_DEBOUNCE_WINDOW": "-1"}, "debounce_window must be >= 0"),
        ({"USAGEANALYTICS_DISABLED": "perhaps"}, "USAGEANALYTICS_DISABLED='perhaps'"),
    ],
)
def test_bad_values_name_the_variable(variables: dict[str, str], message: str) -> None:
    assert message in error_with(**variables)


def test_the_api_key_is_never_shown() -> None:
    with pytest.raises(ua.ConfigurationError) as raised:
        resolve_settings("app", api_key=12345)  # type: ignore[arg-type]
    assert "12345" not in str(raised.value)
    assert "api_key must be a string" in str(raised.value)


def test_arguments_are_checked_by_type_too() -> None:
    for arguments, message in [
        ({"flush_interval": "30"}, "flush_interval must be a number, got '30'"),
        ({"auto_capture": "no"}, "auto_capture must be True or False, got 'no'"),
        ({"batch_size": True}, "batch_size must be an integer, got True"),
        ({"data_dir": 3}, "data_dir must be a path"),
    ]:
        with pytest.raises(ua.ConfigurationError, match=message):
            resolve_settings("app", api_key="k", environ={}, **arguments)


# -- precedence --------------------------------------------------------------------------------


def test_arguments_win_over_the_environment_and_the_environment_over_defaults() -> None:
    environ = {
        **BASE,
        "USAGEANALYTICS_FLUSH_INTERVAL": "30",
        "USAGEANALYTICS_CUSTOMER_ACCOUNT_ID": "env-acct",
    }
    from_env = resolve_settings(environ=environ)
    assert (from_env.app_id, from_env.flush_interval, from_env.customer_account_id) == (
        "env-app",
        30.0,
        "env-acct",
    )
    explicit = resolve_settings(
        "arg-app", environ=environ, flush_interval=5.0, customer_account_id="arg-acct"
    )
    assert (explicit.app_id, explicit.flush_interval, explicit.customer_account_id) == (
        "arg-app",
        5.0,
        "arg-acct",
    )
    assert resolve_settings(environ=BASE).flush_interval == 120.0


def test_none_as_an_argument_is_not_given() -> None:
    environ = {**BASE, "USAGEANALYTICS_CUSTOMER_ACCOUNT_ID": "env-acct"}
    assert resolve_settings(None, environ=environ, customer_account_id=None).customer_account_id == "env-acct"


def test_a_bad_variable_that_an_argument_overrides_does_no_harm() -> None:
    settings = resolve_settings(environ={**BASE, "USAGEANALYTICS_FLUSH_INTERVAL": "soon"}, flush_interval=9.0)
    assert settings.flush_interval == 9.0


def test_disabled_in_the_environment_wins_over_the_code() -> None:
    environ = {"USAGEANALYTICS_DISABLED": "1"}
    assert resolve_settings(environ=environ, disabled=False).disabled is True
    assert (
        resolve_settings(environ={"USAGEANALYTICS_DISABLED": "0"}, app_id="a", api_key="k").disabled is False
    )
    assert resolve_settings("a", api_key="k", environ={}, disabled=True).disabled is True


def test_configure_reads_what_its_old_explicit_defaults_used_to_hide(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """configure() used to pass auto_capture=True and flush_interval=120.0 itself."""
    monkeypatch.setenv("USAGEANALYTICS_AUTO_CAPTURE", "0")
    monkeypatch.setenv("USAGEANALYTICS_FLUSH_INTERVAL", "7")
    monkeypatch.setenv("USAGEANALYTICS_CUSTOMER_ACCOUNT_ID", "acme")
    monkeypatch.setenv("USAGEANALYTICS_CAPTURE_LOCALS", "1")  # not a setting: ignored here
    client = ua.configure("app", api_key="k", data_dir=str(tmp_path), collect_device_attributes=False)
    assert (client.settings.auto_capture, client.settings.flush_interval) == (False, 7.0)
    assert client.settings.customer_account_id == "acme"
    from usageanalytics import autocapture

    assert autocapture.current_client() is None
    ua.shutdown(1)
    monkeypatch.delenv("USAGEANALYTICS_AUTO_CAPTURE")
    monkeypatch.delenv("USAGEANALYTICS_FLUSH_INTERVAL")
    client = ua.configure("app", api_key="k", data_dir=str(tmp_path), collect_device_attributes=False)
    assert (client.settings.auto_capture, client.settings.flush_interval) == (True, 120.0)


def test_configure_again_with_the_same_settings_keeps_the_client(tmp_path: Path) -> None:
    options: dict[str, Any] = {"api_key": "k", "data_dir": str(tmp_path), "collect_device_attributes": False}
    first = ua.configure("app", **options)
    assert ua.configure("app", **options) is first
    assert ua.configure("app", flush_interval=120.0, **options) is first  # the default, spelled out
    second = ua.configure("app", flush_interval=5.0, **options)
    assert second is not first
    assert repr(first).endswith("closed>")
    first_again = ua.configure("app", **options)
    assert first_again is not second and first_again is not first


# -- frameworks' configuration -----------------------------------------------------------------


def test_config_mappings_take_values_and_text() -> None:
    config = {
        "USAGEANALYTICS_FLUSH_INTERVAL": "30",  # text, as app.config.from_mapping(os.environ) gives it
        "USAGEANALYTICS_DURABLE": True,
        "USAGEANALYTICS_CUSTOMER_ACCOUNT_ID": None,  # not given
        "USAGEANALYTICS_PRODUCT_ID": "",  # not given
        "USAGEANALYTICS_USER_ID": "u-1",
        "OTHER": 1,
    }
    given = config_settings(config, key=env_var, where=lambda key: f"app.config[{key!r}]")
    assert {name: item.value for name, item in given.items()} == {
        "flush_interval": 30.0,
        "durable": True,
        "user_id": "u-1",
    }
    with pytest.raises(
        ua.ConfigurationError, match=r"app.config\['USAGEANALYTICS_BATCH_SIZE'\]='lots': batch_size"
    ):
        config_settings(
            {"USAGEANALYTICS_BATCH_SIZE": "lots"}, key=env_var, where=lambda k: f"app.config[{k!r}]"
        )


# -- typos -------------------------------------------------------------------------------------


def test_unknown_variables_and_suggestions() -> None:
    environ = {
        "USAGEANALYTICS_FLUSH_INTERVALL": "3",
        "USAGEANALYTICS_APP_ID": "a",
        "USAGEANALYTICS_COLLECTOR_API_KEY": "x",  # the collector's, not a setting
        "OTHER": "1",
    }
    assert unknown_variables(environ) == ["USAGEANALYTICS_FLUSH_INTERVALL"]
    assert suggestion("FLUSH_INTERVALL") == "flush_interval"
    assert suggestion("colour") is None


def test_environment_settings_reads_only_what_is_set() -> None:
    assert environment_settings({"USAGEANALYTICS_STRICT": "1", "PATH": "/bin"}) == {
        "strict": Given(True, "USAGEANALYTICS_STRICT='1'")
    }


def test_a_callable_in_the_module_being_imported_is_refused_with_a_reason(tmp_path: Path) -> None:
    """USAGEANALYTICS_X=app:fn while app itself is being imported (it imported the framework)."""
    (tmp_path / "half_imported_app.py").write_text(
        textwrap.dedent(
            """
            from usageanalytics.setting_types import import_object
            try:
                import_object("half_imported_app:identify")
            except ValueError as error:
                MESSAGE = str(error)

            def identify(request):
                return None
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import half_imported_app  # type: ignore[import-not-found]

        assert "still being imported" in half_imported_app.MESSAGE
        assert setting_types.import_object("half_imported_app:identify") is half_imported_app.identify
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("half_imported_app", None)
