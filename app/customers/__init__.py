"""Customers (issue 13): the buyer an affiliate brought, bound to it for the offer's
lifetime, with recurring payouts, history and lifetime totals."""
