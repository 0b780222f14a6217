"""Python Socket.IO peers of the capture lab (python-socketio / python-engineio)."""
