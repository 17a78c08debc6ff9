"""dbt-duckdb plugin: the sentiment functions on every connection dbt opens.

profiles.yml:
    plugins:
      - module: sentiment_udf.dbt_plugin
        config: {model: null, max_length: 512, threads: null, macros: true}
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from ..runtime.options import MODEL_OPTIONS, check_model_options
from .catalog_guard import MACRO_NAMES, stored_calls
from .duckdb_functions import load_macros, register


@dataclass(frozen=True)
class PluginConfig:
    """The plugin's `config:` block in profiles.yml, checked once at dbt's start: every key
    named, every value of its type, the model options as register() checks them."""

    model: str | None = None
    aspect_model: str | None = None
    opinion_model: str | None = None
    prefix: str = ""
    names: dict[str, str] | None = None
    positive_label: str | None = None
    macros: bool = False
    cache: bool | str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, config: dict[str, Any]) -> PluginConfig:
        own = {f.name for f in fields(cls)} - {"model_options"}
        unknown = set(config) - own - set(MODEL_OPTIONS)
        if unknown:
            raise ValueError(
                f"sentiment_udf.dbt_plugin: unknown config {sorted(unknown)}; "
                f"known: {sorted(own | set(MODEL_OPTIONS))}"
            )
        for name, kinds in _CONFIG_TYPES.items():
            value = config.get(name)
            if value is not None and not isinstance(value, kinds):
                raise ValueError(
                    f"sentiment_udf.dbt_plugin: config {name!r} must be "
                    f"{' or '.join(k.__name__ for k in kinds)}, not {value!r}"
                )
        options = {k: v for k, v in config.items() if k in MODEL_OPTIONS}
        check_model_options(options, "sentiment_udf.dbt_plugin config")
        return cls(**{k: v for k, v in config.items() if k in own}, model_options=options)

    def register_arguments(self) -> dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model_options"}
        return {**own, **self.model_options}


_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "aspect_model": (str,),
    "opinion_model": (str,),
    "prefix": (str,),
    "names": (dict,),
    "positive_label": (str,),
    "macros": (bool,),
    "cache": (bool, str),
}


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = PluginConfig.from_profile(dict(plugin_config))

    def configure_connection(self, conn: Any) -> None:
        registration = register(conn, **self.config.register_arguments())
        self.function_names = tuple(registration.functions.values()) + MACRO_NAMES
        self.warned: set[str] = set()

    def configure_cursor(self, cursor: Any) -> None:
        if self.config.macros:  # TEMP macros belong to one connection: add to each cursor
            load_macros(cursor)
        self._warn_about_views(cursor)

    def _warn_about_views(self, cursor: Any) -> None:
        """A view whose SQL calls the functions works only in this dbt process: say so on
        stderr, once per view, at the next model dbt runs (there is no after-model hook)."""
        for kind, name in stored_calls(cursor, getattr(self, "function_names", ())):
            if name not in self.warned:
                self.warned.add(name)
                print(
                    f"sentiment_udf.dbt_plugin: WARNING: {kind} {name} calls a sentiment "
                    "function; it will fail wherever the functions are not registered (the "
                    "DuckDB CLI, a BI tool): materialize it as 'table' or 'incremental'",
                    file=sys.stderr,
                    flush=True,
                )
