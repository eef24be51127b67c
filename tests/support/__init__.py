"""Helpers shared by the test directories (on the path through pytest's ``pythonpath``)."""
