"""Conversion intake: GET|POST /postback from advertisers, /pixel.gif and /pixel.js."""
