"""helpers.signals: SIGTERM and SIGHUP end a run the way Ctrl-C does, with the shell's status."""

from __future__ import annotations

import os
import signal

import pytest

from helpers.signals import Stopped, exit_status, signal_name, stop_on_signals


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_raises_a_keyboard_interrupt_with_its_status(signum, status):
    before = signal.getsignal(signum)
    with pytest.raises(KeyboardInterrupt) as caught:
        with stop_on_signals():
            os.kill(os.getpid(), signum)
            signal.sigtimedwait([], 0.5)  # the handler runs at the next bytecode
    assert isinstance(caught.value, Stopped) and exit_status(caught.value) == status
    assert signal_name(caught.value) == signal.Signals(signum).name
    assert signal.getsignal(signum) == before  # restored


def test_ctrl_c_keeps_its_status():
    assert exit_status(KeyboardInterrupt()) == 130
    assert signal_name(KeyboardInterrupt()) == "Ctrl-C"
