"""Dash page layouts, one module per page (imported by Dash Pages, not by other modules)."""
