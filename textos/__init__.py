"""Textos: a self-hostable SMS platform, wire-compatible with the OVHcloud SMS API."""

__version__ = "0.1.0"
