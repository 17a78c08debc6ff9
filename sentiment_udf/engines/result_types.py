"""The result types of the SQL functions, defined once as Arrow types; DuckDB's and Spark's
spellings of them are derived here, so the three engines can never disagree."""

from __future__ import annotations

from dataclasses import dataclass

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
OPINIONS_TYPE = pa.list_(
    pa.struct(
        [
            ("target", pa.string()),
            ("target_key", pa.string()),
            ("label", pa.string()),
            ("score", pa.float64()),
            *SPAN_FIELDS,
            ("sentence_position", pa.int32()),
        ]
    )
)


@dataclass(frozen=True)
class _Spelling:
    """How one engine writes scalars, lists, maps and struct fields."""

    scalars: dict[pa.DataType, str]
    list_of: str  # "{}" is the element type
    map_of: str  # "{}" the key type, then the value type
    struct_of: str  # "{}" the joined fields
    field: str  # "{}" the name, then the type
    separator: str

    def spell(self, kind: pa.DataType) -> str:
        if kind in self.scalars:
            return self.scalars[kind]
        if pa.types.is_list(kind):
            return self.list_of.format(self.spell(kind.value_type))
        if pa.types.is_map(kind):
            return self.map_of.format(self.spell(kind.key_type), self.spell(kind.item_type))
        if pa.types.is_struct(kind):
            fields = self.separator.join(self.field.format(f.name, self.spell(f.type)) for f in kind)
            return self.struct_of.format(fields)
        raise TypeError(f"no spelling for {kind}")


_DUCKDB = _Spelling(
    {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int32(): "INTEGER"},
    "{}[]", "MAP({}, {})", "STRUCT({})", '"{}" {}', ", ",
)
_SPARK = _Spelling(
    {pa.string(): "string", pa.float64(): "double", pa.int32(): "int"},
    "array<{}>", "map<{},{}>", "struct<{}>", "{}:{}", ",",
)


def sql_type(kind: pa.DataType) -> str:
    """DuckDB's SQL spelling of an Arrow type (strings, doubles, int32, lists, structs, maps)."""
    return _DUCKDB.spell(kind)


def spark_type(kind: pa.DataType) -> str:
    """Spark's DDL spelling of the same types."""
    return _SPARK.spell(kind)
