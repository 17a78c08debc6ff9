"""The model runtime: a tokenizer, an onnxruntime session and numpy; models described as data. Knows nothing of SQL engines."""
