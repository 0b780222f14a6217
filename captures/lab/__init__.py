"""The capture lab: real Socket.IO peers, real faults, tcpdump captures and truth files.

Run with ``python -m captures.lab [run] [NAME ...] [--list]``; see README.md. Nothing in
``analyzer`` may import this package.
"""
