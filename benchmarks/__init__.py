"""Benchmarks of the portal session service: cold start, warm invocation, DynamoDB round trips, capacity (write
units, hot keys, cleanup), the local server and the deployment size. `make bench` runs them all and writes
benchmarks/RESULTS.md."""
