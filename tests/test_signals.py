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


def test_an_ignored_signal_stays_ignored():
    """`nohup` ignores SIGHUP: a run under it outlives its terminal."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            signal.sigtimedwait([], 0.2)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_held_signals_are_noted_not_raised():
    from helpers.signals import held_signals

    with held_signals() as arrived:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0.2)
    assert arrived == [signal.SIGTERM]


def test_a_second_held_signal_stops_at_once():
    from helpers.signals import held_signals

    with pytest.raises(Stopped) as caught:
        with held_signals(second_stops=True) as arrived:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.2)
            assert arrived == [signal.SIGTERM]  # the first waits
            os.kill(os.getpid(), signal.SIGHUP)
            signal.sigtimedwait([], 0.2)
    assert caught.value.signum == signal.SIGHUP
