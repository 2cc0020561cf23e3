"""Fareroom: a platform for businesses that sell their time online."""

__version__ = "0.1.0"
