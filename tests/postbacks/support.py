"""Moved to tests.support.conversions (several packages' tests share it); this module
stays only while branches that import it from here merge in."""

from tests.support.conversions import BROWSER as BROWSER
from tests.support.conversions import click as click
from tests.support.conversions import conversions as conversions
from tests.support.conversions import make_retries_due as make_retries_due
from tests.support.conversions import make_shop as make_shop
from tests.support.conversions import old_click as old_click
from tests.support.conversions import postback as postback
from tests.support.conversions import retry_count as retry_count
from tests.support.conversions import rollup_totals as rollup_totals
from tests.support.conversions import run_conversion_consumers as run_conversion_consumers
from tests.support.conversions import run_worker as run_worker
from tests.support.conversions import stream_length as stream_length
