"""Tests of the side-effect layer, against real SMTP and HTTP servers on loopback."""
