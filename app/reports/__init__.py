"""Reports over customers (issue 13): cohorts by the period of the customers' first
conversion, and an offer's funnel from clicks to repeat purchases."""
