"""The result types of the SQL functions, defined once as Arrow types; DuckDB's and Spark's
spellings of them are derived here, so the three engines can never disagree."""

from __future__ import annotations

import pyarrow as pa

SPAN_FIELDS = [("position", pa.int32()), ("length", pa.int32())]
SENTIMENT_TYPE = pa.struct(
    [("label", pa.string()), ("score", pa.float64()),
     ("probabilities", pa.map_(pa.string(), pa.float64()))]
)
SENTENCES_TYPE = pa.list_(
    pa.struct(
        [*SPAN_FIELDS, ("sentence", pa.string()), ("label", pa.string()), ("score", pa.float64())]
    )
)
ASPECTS_TYPE = pa.list_(
    pa.struct(
        [
            ("aspect", pa.string()),
            ("label", pa.string()),
            ("score", pa.float64()),
            ("mentions", pa.int32()),
            ("evidence", pa.list_(pa.struct(SPAN_FIELDS))),
        ]
    )
)

_SCALARS = {
    pa.string(): ("VARCHAR", "string"),
    pa.float64(): ("DOUBLE", "double"),
    pa.int32(): ("INTEGER", "int"),
}


def sql_type(kind: pa.DataType) -> str:
    """DuckDB's SQL spelling of an Arrow type (strings, doubles, int32, lists, structs, maps)."""
    if kind in _SCALARS:
        return _SCALARS[kind][0]
    if pa.types.is_list(kind):
        return f"{sql_type(kind.value_type)}[]"
    if pa.types.is_map(kind):
        return f"MAP({sql_type(kind.key_type)}, {sql_type(kind.item_type)})"
    if pa.types.is_struct(kind):
        fields = ", ".join(f'"{f.name}" {sql_type(f.type)}' for f in kind)
        return f"STRUCT({fields})"
    raise TypeError(f"no SQL spelling for {kind}")


def spark_type(kind: pa.DataType) -> str:
    """Spark's DDL spelling of the same types."""
    if kind in _SCALARS:
        return _SCALARS[kind][1]
    if pa.types.is_list(kind):
        return f"array<{spark_type(kind.value_type)}>"
    if pa.types.is_map(kind):
        return f"map<{spark_type(kind.key_type)},{spark_type(kind.item_type)}>"
    if pa.types.is_struct(kind):
        return "struct<" + ",".join(f"{f.name}:{spark_type(f.type)}" for f in kind) + ">"
    raise TypeError(f"no Spark spelling for {kind}")
