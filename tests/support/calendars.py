"""Calendar files the tests write: one that ends soon (its horizon is 2027-01-29)."""

ENDS_SOON = """
name = "SOON"
timezone = "Europe/Paris"
open = "09:00"
close = "17:30"
first_year = 2026
last_year = 2027
horizon = "2027-01-29"
"""
