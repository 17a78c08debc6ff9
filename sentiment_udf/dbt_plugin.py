"""Public entry point for dbt-duckdb: `plugins: [{module: sentiment_udf.dbt_plugin}]` in
profiles.yml (the plugin itself is sentiment_udf.engines.dbt_plugin)."""

from .engines.dbt_plugin import Plugin

__all__ = ["Plugin"]
