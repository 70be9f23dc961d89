"""Measurements of mestwin's hot paths (pytest-benchmark); nothing imports them."""
