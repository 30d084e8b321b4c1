"""Recording analysed messages and their delivery failures in the database."""
