"""End-to-end tests: the service run as `python -m local_gateway`, reached over HTTP and as a subprocess."""
