"""The reports read the stats tests' data set: clicks and conversions around a DST change
and a month's end, in two currencies, with customers' first and recurring conversions."""

from tests.stats.conftest import dataset  # noqa: F401
