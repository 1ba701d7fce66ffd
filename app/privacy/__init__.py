"""Personal data: where it is kept (holders), how it is erased, and IP anonymization."""
