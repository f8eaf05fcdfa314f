"""Version the double reports (`ollama --version`, `GET /api/version`); the release builder rewrites it."""

VERSION = "0.12.6"
