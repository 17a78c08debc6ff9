"""The `sentiment-udf` command: argument parsing, the SQL session, the shell and progress display."""
