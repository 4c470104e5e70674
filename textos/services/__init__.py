"""Use cases: what the API and the CLI ask of Textos.

Services import storage, domain and config, never the API, the CLI, the server or
delivery. What they need from the process (the price book, a dispatcher wake-up) is
handed to them by the composition roots (``textos.server``, ``textos.cli``).
"""
