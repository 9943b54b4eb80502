"""Progress in a log: a line per stage, and for a long stage a line about every HEARTBEAT seconds with how far it got
and what is left."""

import time

from benchmark.progress import LineProgress


def test_a_long_stage_in_a_log_says_how_far_it_got_and_what_is_left(capsys):
    bar = LineProgress(total=2, desc="attacks", unit="attack", heartbeat=0.05)
    bar.set_postfix_str("apgd-t")
    bar.advance(250, 1000)
    time.sleep(0.3)
    bar.close()
    err = capsys.readouterr().err.splitlines()
    beats = [line for line in err if "running for" in line]
    assert beats and all(line.startswith("attacks: apgd-t running for ") for line in beats)
    assert "250/1000 examples done, about " in beats[0] and beats[0].endswith(" left")
    assert err[-1].startswith("attacks: apgd-t done in ")
    n = len(err)
    time.sleep(0.2)
    assert len(capsys.readouterr().err.splitlines()) == 0 and n  # closed: no more lines, no \r redraws


def test_a_stage_without_progress_still_says_it_runs(capsys):
    with LineProgress(total=1, desc="guards", unit="stage", heartbeat=0.05) as bar:
        bar.set_postfix_str("the gradient-masking guards")
        time.sleep(0.2)
    err = capsys.readouterr().err
    assert "guards: the gradient-masking guards running for 0s" in err and "\r" not in err
