"""Public entry point for Spark: `from sentiment_udf.spark import register_spark`."""

from .engines.spark import STRUCT_TYPE, register_spark

__all__ = ["STRUCT_TYPE", "register_spark"]
