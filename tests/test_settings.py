"""Settings read from the environment: limits that other parts rely on are checked there."""

import pytest

from campaigns.settings import Settings, SettingsError
from campaigns.store.keys import ROW_LIMIT


def test_max_rows_is_read_from_the_environment():
    assert Settings.from_env({"CAMPAIGNS_MAX_ROWS": "5000"}).max_rows == 5000
    assert Settings.from_env({}).max_rows == Settings().max_rows


@pytest.mark.parametrize("value", ["0", str(ROW_LIMIT - 1), "3000000000"])
def test_max_rows_beyond_what_a_recipient_id_holds_is_refused(value):
    # a row number is part of a recipient's id (campaigns.store.keys)
    with pytest.raises(SettingsError, match="CAMPAIGNS_MAX_ROWS must be between 1 and 2,147,483,646"):
        Settings.from_env({"CAMPAIGNS_MAX_ROWS": value})
