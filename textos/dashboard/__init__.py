"""The web dashboard at ``/dashboard``: server-rendered pages (Jinja2) on the services, no JavaScript.

Mounted by the composition root (``textos.server``) beside the API; like the API it reads and
writes through ``textos.services`` only (an import-linter contract says so)."""
