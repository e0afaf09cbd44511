"""Qianshu (签署): self-hostable electronic-contract platform."""

__version__ = "0.1.0"
