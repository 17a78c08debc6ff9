"""dbt-duckdb plugin: the sentiment functions on every connection dbt opens.

profiles.yml:
    plugins:
      - module: sentiment_udf.dbt_plugin
        config: {model: null, max_length: 512, threads: null, macros: true}
"""

from __future__ import annotations

import sys
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from ..runtime.options import MODEL_OPTIONS, check_model_options
from .catalog_guard import MACRO_NAMES, stored_calls
from .duckdb_functions import load_macros, register

OPTIONS = {
    "model",
    "aspect_model",
    "prefix",
    "names",
    "positive_label",
    "macros",
    "cache",
    *MODEL_OPTIONS,
}


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        unknown = set(plugin_config) - OPTIONS
        if unknown:
            raise ValueError(
                f"sentiment_udf.dbt_plugin: unknown config {sorted(unknown)}; "
                f"known: {sorted(OPTIONS)}"
            )
        check_model_options(
            {k: v for k, v in plugin_config.items() if k in MODEL_OPTIONS},
            "sentiment_udf.dbt_plugin config",
        )
        self.options = dict(plugin_config)

    def configure_connection(self, conn: Any) -> None:
        registration = register(conn, **self.options)
        self.function_names = tuple(registration.functions.values()) + MACRO_NAMES
        self.warned: set[str] = set()

    def configure_cursor(self, cursor: Any) -> None:
        if self.options.get("macros"):  # TEMP macros belong to one connection: add to each cursor
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
