"""Dalston: a self-hosted speech-to-text server. Importing the package has no side effects."""

__version__ = "0.1.0"
