"""The one exception type users catch."""


class ModelError(Exception):
    """A model folder is missing, unreadable or does not fit together; the message names the file."""
