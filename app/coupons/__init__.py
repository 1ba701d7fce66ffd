"""Coupon codes that credit an affiliate without a click (issue 13)."""
