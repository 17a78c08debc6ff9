"""What in a text is good or bad: sentences, an overall label and aspects, on top of the model
runtime (every sentence and pair is scored by it; nothing here tokenizes or scores on its own).
Knows nothing of SQL engines."""
