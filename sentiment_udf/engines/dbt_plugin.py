"""dbt-duckdb plugin: the sentiment functions on every connection dbt opens.

profiles.yml:
    plugins:
      - module: sentiment_udf.dbt_plugin
        config: {model: null, max_length: 512, threads: null, macros: true}
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from ..runtime.options import MODEL_OPTIONS, check_model_options
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
        register(conn, **self.options)

    def configure_cursor(self, cursor: Any) -> None:
        if self.options.get("macros"):  # TEMP macros belong to one connection: add to each cursor
            load_macros(cursor)
