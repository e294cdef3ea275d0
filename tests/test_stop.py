import signal

import pytest

from worldsim.stop import GracefulStop


def test_first_signal_requests_a_stop_second_stops_at_once_and_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with GracefulStop() as stop:
        assert not stop.requested
        signal.raise_signal(signal.SIGINT)
        assert stop.requested  # Ctrl-C no longer kills the job mid-write: the loop saves and returns
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
