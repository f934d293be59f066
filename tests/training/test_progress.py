"""What a running fit shows (the tqdm bar) and the deferred Ctrl-C's handler."""

from __future__ import annotations

import signal
import threading

from xpnet.training import progress
from xpnet.training.progress import DeferredInterrupt, Progress
from xpnet.training.state import History


def test_the_bar_shows_each_epoch_and_lines_beside_it_on_stderr(capsys, monkeypatch):
    with Progress(1, total=3, initial=0) as shown:
        refreshed, updates = [], []
        monkeypatch.setattr(shown.bar, "refresh", lambda *a, **k: refreshed.append(a))
        monkeypatch.setattr(shown.bar, "update", updates.append)
        shown.epoch(History(n_iter=1, loss_curve=[0.25, 0.1234567]))
        # the postfix waits for the bar's own redraw: one per epoch
        assert shown.bar.postfix == "loss=0.123457" and refreshed == []
        assert updates == [1]
        shown.say("Validation score: 0.5")
    out, err = capsys.readouterr()
    assert out == ""
    assert "Validation score: 0.5\n" in err


def test_silent_without_verbose(capsys):
    with Progress(0, total=3, initial=0) as shown:
        shown.epoch(History(n_iter=1, loss_curve=[0.5]))
        shown.say("hello")
    assert capsys.readouterr() == ("", "")


def _handler(signum, frame):
    raise AssertionError("not called")


def test_the_previous_sigint_handler_is_restored():
    before = signal.signal(signal.SIGINT, _handler)
    try:
        with DeferredInterrupt() as interrupt:
            assert signal.getsignal(signal.SIGINT) == interrupt._handle
        assert signal.getsignal(signal.SIGINT) is _handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_handler_set_outside_python_gives_way_to_pythons(monkeypatch):
    calls = []

    def fake_signal(signum, handler):
        calls.append(handler)
        return None  # what signal.signal returns for a handler not set from Python

    monkeypatch.setattr(progress.signal, "signal", fake_signal)
    with DeferredInterrupt() as interrupt:
        pass
    assert calls == [interrupt._handle, signal.default_int_handler]


def test_outside_the_main_thread_no_handler_is_touched():
    errors = []

    def enter_and_exit():
        try:
            with DeferredInterrupt():
                pass
        except Exception as exc:  # signal.signal raises ValueError in a thread
            errors.append(exc)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=enter_and_exit)
    thread.start()
    thread.join()
    assert errors == []
    assert signal.getsignal(signal.SIGINT) is before
