"""Test doubles and clients shared by the test suite and the benchmarks: the scripted OpenAI-compatible
provider, a real-server launcher and a WebSocket protocol client."""
