"""What an operator watches: Prometheus instruments (``instruments``) and the log format (``logs``).

Imports nothing of Textos: delivery, the API and the composition root all record here.
"""
