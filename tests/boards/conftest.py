"""Board HAL tests run on the host: the fakes of machine/rp2/esp32 are installed before any
firmware.hal board module is imported, and every test starts on a fresh fake board."""

import pytest

from tests.boards import fakes

fakes.install()


@pytest.fixture(autouse=True)
def fresh_fakes():
    fakes.reset()
    yield
