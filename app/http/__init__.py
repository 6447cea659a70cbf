"""Transports: the ASGI app, its request gates, the websocket, probes, the web page."""
