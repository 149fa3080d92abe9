"""Local accounting systems for tests, benchmarks and the demo: a real Tryton, and stand-ins for the clouds."""
