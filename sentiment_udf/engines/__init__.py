"""The SQL engines over the runtime: Arrow functions registered in DuckDB, Spark and dbt, the bulk `score` path, evaluation."""
