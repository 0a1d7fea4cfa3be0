"""Test support: in-memory fakes of the repositories' Protocols (store/ports.py), for fast tests of the use cases."""
