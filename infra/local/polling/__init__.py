"""The local cloud's event source mappings, run the AWS way (see infra/local/stream_poller.py)."""
